"""API tests: the real app over httpx, on SQLite, PostgreSQL, PgBouncer and Citus (one app
per backend)."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from entrypoints.http.app import create_app
from tests.api.client import Api, Tenant, settings_for
from tests.support.pgbouncer import PgBouncer


async def _serve(url: str, dialect: str, **settings: object) -> AsyncIterator[Api]:
    app = create_app(settings_for(url, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog.test") as client:
            yield Api(client, app, dialect)


@pytest_asyncio.fixture(scope="session")
async def sqlite_api(sqlite_url: str) -> AsyncIterator[Api]:
    async for api in _serve(sqlite_url, "sqlite"):
        yield api


@pytest_asyncio.fixture(scope="session")
async def pg_api(pg_url: str) -> AsyncIterator[Api]:
    async for api in _serve(pg_url, "postgresql"):
        yield api


@pytest_asyncio.fixture(scope="session")
async def pgbouncer_api(pg_url: str, pgbouncer: PgBouncer) -> AsyncIterator[Api]:
    """The app on the same database, reached through PgBouncer in transaction mode."""
    async for api in _serve(pgbouncer.url_for(pg_url), "pgbouncer", pgbouncer=True):
        yield api


@pytest_asyncio.fixture(scope="session")
async def citus_api(citus_url: str) -> AsyncIterator[Api]:
    """The app on the Citus cluster's coordinator, as the service's role."""
    async for api in _serve(citus_url, "citus"):
        yield api


@pytest.fixture(params=["sqlite", "postgresql", "pgbouncer", "citus"])
def api(request: pytest.FixtureRequest) -> Api:
    return request.getfixturevalue(f"{request.param}_api".replace("postgresql_", "pg_"))


@pytest_asyncio.fixture
async def tenant(api: Api) -> Tenant:
    return await api.new_tenant()
