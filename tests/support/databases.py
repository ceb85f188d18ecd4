"""Fresh databases for tests and benchmarks, on PostgreSQL or SQLite, migrated to head.

On PostgreSQL the schema belongs to the server's own user (the owner, who migrates) and the
service connects as APP_ROLE: a login role that owns nothing, is no superuser and lacks
BYPASSRLS, so row-level security holds for it as it does in production."""

from pathlib import Path
from uuid import uuid4

from sqlalchemy.engine import make_url

from adapters.sqlalchemy import migrate

from .postgres import ExternalPostgres, PostgresServer

APP_ROLE = "catalog_app"
APP_PASSWORD = "catalog-app-test"
Server = PostgresServer | ExternalPostgres


async def ensure_app_role(server: Server) -> None:
    """Create the service's role on `server` unless it exists (roles are server-wide)."""
    await server.execute_async(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_PASSWORD}'
                    NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        END $$""")


def app_url(server: Server, database: str) -> str:
    """The asyncpg URL on which the service reaches `database` as APP_ROLE."""
    url = make_url(server.async_url(database)).set(username=APP_ROLE, password=APP_PASSWORD)
    return url.render_as_string(hide_password=False)


async def new_pg_database(server: Server, migrated: bool = True, *,
                          as_owner: bool = False) -> str:
    """A new database on `server`, at the migrations' head unless told not; its asyncpg URL
    for the service's role (or for the owner, with `as_owner`).

    From sync code: `blocking(new_pg_database(server))`."""
    name = f"catalog_test_{uuid4().hex[:16]}"
    await ensure_app_role(server)
    await server.create_database_async(name)
    owner_url = server.async_url(name)
    if migrated:
        await migrate.upgrade(owner_url)
    return owner_url if as_owner else app_url(server, name)


def owner_url_of(server: Server, url: str) -> str:
    """The owner's asyncpg URL of the database that `url` names."""
    return server.async_url(make_url(url).database)


async def new_sqlite_database(directory: Path, migrated: bool = True) -> str:
    """A new SQLite file in `directory` as an aiosqlite URL, at head unless told not."""
    url = f"sqlite+aiosqlite:///{Path(directory) / f'catalog-{uuid4().hex[:16]}.db'}"
    if migrated:
        await migrate.upgrade(url)
    return url
