"""API tests: the real app over httpx, on SQLite and on PostgreSQL (one app per dialect)."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from entrypoints.http.app import create_app
from tests.api.client import Api, Tenant, settings_for


async def _serve(url: str, dialect: str) -> AsyncIterator[Api]:
    app = create_app(settings_for(url))
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


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest) -> Api:
    return request.getfixturevalue("sqlite_api" if request.param == "sqlite" else "pg_api")


@pytest_asyncio.fixture
async def tenant(api: Api) -> Tenant:
    return await api.new_tenant()
