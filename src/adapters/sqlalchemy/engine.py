"""The engine: pool settings, PgBouncer's constraints, and SQLite made safe for concurrent
writers. How each transaction begins on it is transactions.py's business."""

import time
from typing import Any
from uuid import uuid4

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10,
                  pool_timeout: float = 5.0, pool_recycle: int = 1800, pool_pre_ping: bool = False,
                  pre_ping_idle_seconds: float = 0.0, pgbouncer: bool = False,
                  sqlite_busy_timeout_ms: int = 10_000, echo: bool = False) -> AsyncEngine:
    """An AsyncEngine for `url`; nothing connects until the first unit of work.

    `pgbouncer`: safe behind PgBouncer's transaction pooling, where consecutive transactions
    may run on different server connections: no prepared statement outlives its use (no
    statement caches, unique names), and only startup parameters PgBouncer passes on.

    `pool_pre_ping` with `pre_ping_idle_seconds` > 0: only a connection that sat in the pool
    longer than that is tested as it leaves (a busy pool pays nothing; one left idle across a
    database restart finds its dead connections and replaces them)."""
    ping_after_idle = pool_pre_ping and pre_ping_idle_seconds > 0
    options: dict[str, Any] = {"echo": echo, "pool_pre_ping": pool_pre_ping and not ping_after_idle,
                               "pool_timeout": pool_timeout}
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, **options)
        _make_sqlite_safe(engine, sqlite_busy_timeout_ms)
        return engine
    connect_args: dict[str, Any] = {"server_settings": {"application_name": "tenant-catalog"},
                                    "timeout": pool_timeout}
    if pgbouncer:
        connect_args |= {"statement_cache_size": 0,
                         "prepared_statement_name_func": _unique_statement_name}
        url = make_url(url).update_query_dict({"prepared_statement_cache_size": "0"})
    # AUTOCOMMIT: the driver's mode for good, set once per connection; every transaction is
    # begun by the transaction module's own first message (transactions.py), never by the
    # driver, and nothing is set or reset on each checkout and checkin.
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=pool_recycle,
        connect_args=connect_args, isolation_level="AUTOCOMMIT", **options)
    if ping_after_idle:
        _ping_after_idle(engine, pre_ping_idle_seconds)
    return engine


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Test a connection leaving the pool after more than `idle_seconds` in it; a dead one is
    discarded and the pool hands out a fresh one (DisconnectionError, as PoolEvents.checkout
    documents)."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("the pooled connection is dead") from error
        if not alive:
            raise DisconnectionError("the pooled connection is dead")


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4().hex}__"


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
