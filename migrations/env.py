"""Alembic environment: async engines; the URL from the caller, `-x url=…`, or the settings."""

import asyncio
import concurrent.futures
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from adapters.sqlalchemy.migrate import context_options, lock_for_migration, migration_engine
from adapters.sqlalchemy.tables import metadata

config = context.config
target_metadata = metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """attributes["url"] (from code), else `-x url=…`, else CATALOG_DATABASE_URL and friends."""
    from entrypoints.settings import Settings, to_async_url

    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return to_async_url(url) if url else Settings().migration_url


def app_role() -> str:
    """The role the service connects as, which the migrations grant to."""
    from entrypoints.settings import Settings

    return str(config.attributes.get("app_role") or Settings().app_role)


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, app_role=app_role(),
                      dialect_opts={"paramstyle": "named"},
                      render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, app_role=app_role(), **context_options(connection))
    with context.begin_transaction():
        lock_for_migration(connection)
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = migration_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # the caller's connection and transaction
        do_run_migrations(connection)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_async_migrations())
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from async code
        pool.submit(lambda: asyncio.run(run_async_migrations())).result()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
