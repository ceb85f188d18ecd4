"""Session fixtures: one throwaway PostgreSQL, one throwaway Citus cluster (started at the
first test that needs it), and a database at head on each backend.

`await new_pg_database(server, migrated=True)` gives a test a database of its own.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from adapters.sqlalchemy import migrate
from tests.support.databases import app_url, new_pg_database, new_sqlite_database, owner_url_of
from tests.support.citus import CitusCluster, throwaway_citus
from tests.support.databases import APP_ROLE
from tests.support.pgbouncer import PgBouncer, running_pgbouncer
from tests.support.postgres import ExternalPostgres, PostgresServer, throwaway_postgres

__all__ = ["app_url", "new_pg_database", "new_sqlite_database", "owner_url_of"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | ExternalPostgres]:
    """TEST_DATABASE_URL's server, or a private one started once per session."""
    with throwaway_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def pgbouncer(postgres_server: PostgresServer | ExternalPostgres) -> Iterator[PgBouncer]:
    """A real PgBouncer in transaction pooling mode in front of the session's server."""
    users = (APP_ROLE, make_url(postgres_server.url()).username or "postgres")
    with running_pgbouncer(postgres_server.host, postgres_server.port, users) as bouncer:
        yield bouncer


@pytest_asyncio.fixture(scope="session")
async def pg_url(postgres_server: PostgresServer | ExternalPostgres) -> str:
    """`postgresql+asyncpg://…@127.0.0.1:…/…`: a session-wide database at the migrations' head."""
    return await new_pg_database(postgres_server)


@pytest.fixture(scope="session")
def citus_cluster() -> Iterator[CitusCluster]:
    """A coordinator and two workers, started once per session (CitusMissing without Citus)."""
    with throwaway_citus() as cluster:
        yield cluster


@pytest_asyncio.fixture(scope="session")
async def citus_url(citus_cluster: CitusCluster) -> str:
    """A session-wide database on the Citus cluster at the migrations' head, its tables
    distributed; the service's role's URL on the coordinator."""
    return await new_pg_database(citus_cluster)


@pytest_asyncio.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`sqlite+aiosqlite:///…/catalog.db`: a session-wide database at the migrations' head."""
    directory: Path = tmp_path_factory.mktemp("sqlite")
    url = f"sqlite+aiosqlite:///{directory / 'catalog.db'}"
    await migrate.upgrade(url)
    return url
