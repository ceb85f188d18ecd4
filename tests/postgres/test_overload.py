"""Overload and outages answer 503 with Retry-After, never a hang; cancelled requests give
their connections back."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from entrypoints.http.app import create_app
from tests.api.client import Api, Tenant, assert_problem, settings_for
from tests.conftest import owner_url_of
from tests.support.databases import APP_ROLE


@asynccontextmanager
async def serving(url: str, **settings: Any) -> AsyncIterator[Api]:
    app = create_app(settings_for(url, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     timeout=30) as client:
            yield Api(client, app, "postgresql")


async def city_of(api: Api, tenant: Tenant) -> str:
    made = await api.request("POST", "/v1/cities", tenant, json={"name": "Locked", "population": 1})
    assert made.status_code == 201
    return str(made.json()["id"])


@asynccontextmanager
async def row_locked(owner_url: str, city_id: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold a lock on one city row (as the owner) until the block ends."""
    connection = await asyncpg.connect(owner_url.replace("+asyncpg", ""))
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("SELECT 1 FROM cities WHERE id = $1 FOR UPDATE", city_id)
        yield connection
        await transaction.rollback()
    finally:
        await connection.close()


async def app_backends(connection: asyncpg.Connection, *states: str) -> int:
    return int(await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = current_database()"
        " AND (cardinality($2::text[]) = 0 OR state = ANY($2::text[]))", APP_ROLE, list(states)))


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def pool_of(api: Api) -> Any:
    return api.app.state.container.engine().pool


async def test_exhausted_pool_is_503_within_the_pool_timeout(pg_url: str,
                                                            postgres_server: Any) -> None:
    owner = owner_url_of(postgres_server, pg_url)
    async with serving(pg_url, pool_size=1, pool_max_overflow=0, pool_timeout=0.5,
                       lock_timeout_ms=20_000, tenant_max_concurrency=2) as api:  # past the pool
        tenant = await api.new_tenant("pool")
        city = await city_of(api, tenant)
        async with row_locked(owner, city) as holder:
            blocked = asyncio.create_task(api.request(
                "PATCH", f"/v1/cities/{city}", tenant, json={"population": 2}))
            await wait_for(lambda: _waiting_on_lock(holder))
            started = time.monotonic()
            refused = await api.request("GET", "/v1/cities/biggest", tenant)
            waited = time.monotonic() - started
            assert_problem(refused, 503)
            assert refused.headers["retry-after"].isdigit()
            assert waited < 5, f"503 took {waited:.1f} s; the pool timeout is 0.5 s"
        done = await asyncio.wait_for(blocked, 10)
        assert done.status_code == 200 and done.json()["population"] == 2


async def _waiting_on_lock(connection: asyncpg.Connection) -> bool:
    return bool(await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'",
        APP_ROLE))


async def test_unreachable_database_is_503_not_a_hang() -> None:
    url = "postgresql+asyncpg://catalog_app@127.0.0.1:1/nowhere"  # nothing listens on port 1
    async with serving(url, pool_timeout=1) as api:
        for path in ("/v1/tenants", "/v1/me"):
            headers = api.admin if path == "/v1/tenants" else {
                "Authorization": "Bearer ck_" + "1" * 64 + "_x"}
            response = await api.request("GET", path, headers=headers)
            assert_problem(response, 503)
            assert response.headers["retry-after"].isdigit()


async def test_lock_timeout_is_503_and_writes_nothing(pg_url: str, postgres_server: Any) -> None:
    owner = owner_url_of(postgres_server, pg_url)
    async with serving(pg_url, lock_timeout_ms=200) as api:
        tenant = await api.new_tenant("lock")
        city = await city_of(api, tenant)
        async with row_locked(owner, city):
            response = await api.request("PATCH", f"/v1/cities/{city}", tenant,
                                         json={"population": 5})
            assert_problem(response, 503)
        after = await api.request("GET", f"/v1/cities/{city}", tenant)
        assert after.json()["population"] == 1 and after.json()["version"] == 1


@pytest.mark.parametrize("cancelled", [12])
async def test_cancelled_requests_give_their_connections_back(
        pg_url: str, postgres_server: Any, cancelled: int) -> None:
    owner = owner_url_of(postgres_server, pg_url)
    async with serving(pg_url, pool_size=cancelled, pool_max_overflow=0,
                       tenant_max_concurrency=cancelled) as api:
        tenant = await api.new_tenant("cancel")
        city = await city_of(api, tenant)
        warm = await asyncio.gather(*[api.request("GET", "/v1/cities/biggest", tenant)
                                      for _ in range(cancelled)])
        assert {r.status_code for r in warm} == {200}
        async with row_locked(owner, city) as holder:
            before = await app_backends(holder)
            requests = [asyncio.wait_for(api.request("PATCH", f"/v1/cities/{city}", tenant,
                                                     json={"population": i}), 0.3)
                        for i in range(cancelled)]
            outcomes = await asyncio.gather(*requests, return_exceptions=True)
            assert all(isinstance(o, TimeoutError) for o in outcomes), outcomes
        async with row_locked(owner, "00000000-0000-0000-0000-000000000000") as watcher:
            await wait_for(lambda: _settled(watcher, before))
        assert pool_of(api).checkedout() == 0
        after = await api.request("GET", f"/v1/cities/{city}", tenant)
        assert after.status_code == 200 and after.json()["version"] == 1


async def _settled(connection: asyncpg.Connection, before: int) -> bool:
    busy = await app_backends(connection, "active", "idle in transaction",
                              "idle in transaction (aborted)")
    return busy == 0 and await app_backends(connection) <= before
