"""Fresh databases for tests and benchmarks, on PostgreSQL or SQLite, migrated to head."""

from pathlib import Path
from uuid import uuid4

from adapters.sqlalchemy import migrate

from .postgres import ExternalPostgres, PostgresServer


async def new_pg_database(server: PostgresServer | ExternalPostgres, migrated: bool = True,
                          ) -> str:
    """A new database on `server` as an asyncpg URL, at the migrations' head unless told not.

    From sync code: `blocking(new_pg_database(server))`."""
    name = f"catalog_test_{uuid4().hex[:16]}"
    await server.create_database_async(name)
    url = server.async_url(name)
    if migrated:
        await migrate.upgrade(url)
    return url


async def new_sqlite_database(directory: Path, migrated: bool = True) -> str:
    """A new SQLite file in `directory` as an aiosqlite URL, at head unless told not."""
    url = f"sqlite+aiosqlite:///{Path(directory) / f'catalog-{uuid4().hex[:16]}.db'}"
    if migrated:
        await migrate.upgrade(url)
    return url
