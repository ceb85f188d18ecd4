"""Engine and session factory: pool settings, and SQLite made safe for concurrent writers."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10,
                  pool_timeout: float = 5.0, pool_recycle: int = 1800, pool_pre_ping: bool = False,
                  statement_timeout_ms: int = 0, sqlite_busy_timeout_ms: int = 10_000,
                  echo: bool = False) -> AsyncEngine:
    """An AsyncEngine for `url`; nothing connects until the first unit of work."""
    options: dict[str, Any] = {"echo": echo, "pool_pre_ping": pool_pre_ping,
                               "pool_timeout": pool_timeout}
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, **options)
        _make_sqlite_safe(engine, sqlite_busy_timeout_ms)
        return engine
    server_settings = {"application_name": "tenant-catalog"}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=pool_recycle,
        connect_args={"server_settings": server_settings, "timeout": pool_timeout}, **options)


def _make_sqlite_safe(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE so writers queue, not fail."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, emits BEGIN
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={busy_timeout_ms}",
                       "foreign_keys=ON", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit, for plain data after the transaction."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
