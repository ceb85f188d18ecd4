"""Alembic from async code: upgrade, downgrade, current, head, sync, and the readiness check.

Alembic's commands are synchronous and its `context` is process-global, so each command
runs in a worker thread, one at a time; `migrations/env.py` runs its own event loop there.
URLs are async SQLAlchemy URLs (`postgresql+asyncpg://…`, `sqlite+aiosqlite:///…`).
"""

import asyncio
import contextlib
import functools
import importlib.resources
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sqlalchemy.tables import metadata

MIGRATION_LOCK_KEY = 0x636174616C6F67  # pg_advisory_xact_lock key: one migrator per database
_alembic_lock = threading.RLock()


def script_location() -> Path:
    """The installed `migrations` package (env.py and versions/), wherever it was installed."""
    candidates = [Path(__file__).resolve().parents[3] / "migrations"]  # a source checkout
    with contextlib.suppress(ModuleNotFoundError):
        candidates.insert(0, Path(str(importlib.resources.files("migrations"))))
    for path in candidates:
        if (path / "env.py").is_file() and (path / "versions").is_dir():
            return path
    raise RuntimeError(f"no Alembic migrations found in {candidates}")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config on the installed scripts, with `url` for env.py in its attributes."""
    config = Config()
    config.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    return config


def migration_engine(url: str) -> AsyncEngine:
    """An unpooled engine for schema changes.

    On SQLite: transactional DDL (BEGIN IMMEDIATE, so migrators queue) and foreign keys off,
    so the table rebuilds of batch migrations cannot cascade deletes."""
    if not url.startswith("sqlite"):
        return create_async_engine(url, poolclass=NullPool, connect_args={
            "server_settings": {"application_name": "tenant-catalog-migrate"}})
    engine = create_async_engine(url, poolclass=NullPool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("foreign_keys=OFF", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def context_options(connection: Connection) -> dict[str, Any]:
    """Options for `context.configure` shared by env.py and sync()."""
    return {"target_metadata": metadata, "compare_type": True, "transactional_ddl": True,
            "render_as_batch": connection.dialect.name == "sqlite"}


def lock_for_migration(connection: Connection) -> None:
    """Serialise migrators of one PostgreSQL database until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": MIGRATION_LOCK_KEY})


async def upgrade(url: str, revision: str = "head") -> None:
    await _in_thread(_command, command.upgrade, url, revision)


async def downgrade(url: str, revision: str) -> None:
    await _in_thread(_command, command.downgrade, url, revision)


async def current(url: str) -> str | None:
    """The database's revision, or None when it has none (an empty database)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection_revision(connection)
    finally:
        await engine.dispose()


async def connection_revision(connection: AsyncConnection) -> str | None:
    """The revision seen through an open connection (for /readyz on the app's own pool)."""
    return await connection.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_revision())


async def head() -> str:
    return head_revision()


@functools.cache
def head_revision() -> str:
    """The scripts' single head revision."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError("the migrations have no revisions")
    return revision


async def is_at_head(url: str) -> bool:
    return await current(url) == head_revision()


async def sync(url: str) -> None:
    """Empty database: create the schema and stamp head; otherwise upgrade to head.

    The schema is created by running every revision from base, so that what only migrations
    carry (row-level security policies, grants) comes with it."""
    await _in_thread(_sync_blocking, url)


def _sync_blocking(url: str) -> None:
    with _alembic_lock:  # taken before any advisory lock, as upgrade() does
        asyncio.run(_sync(url))


async def _sync(url: str) -> None:
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_sync_on)
            await connection.commit()
    finally:
        await engine.dispose()


def _sync_on(connection: Connection) -> None:
    if not connection.in_transaction():
        connection.begin()
    lock_for_migration(connection)
    config = alembic_config()
    config.attributes["connection"] = connection
    if MigrationContext.configure(connection).get_current_revision() is not None:
        command.upgrade(config, "head")
        return
    existing = sorted(set(inspect(connection).get_table_names()) & set(metadata.tables))
    if existing:
        raise RuntimeError(f"tables {existing} exist but the database has no Alembic "
                           "revision: stamp it (`alembic stamp`) or drop them")
    command.upgrade(config, "head")


def _command(run: Callable[..., None], url: str, *args: str) -> None:
    with _alembic_lock:
        run(alembic_config(url), *args)


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)
