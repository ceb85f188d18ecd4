"""SQLAlchemy 2 asyncio adapters for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""
