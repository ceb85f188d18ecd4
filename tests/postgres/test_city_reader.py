"""The read model for "biggest" runs straight on the driver: it must stay tenant-scoped, and
never hand a connection back to the pool inside a transaction, even when cancelled."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.readers import SqlaCityReader
from adapters.sqlalchemy.transactions import Transactions, TransactionScope
from tests.postgres.test_row_level_security import make_tenant_with_cities
from tests.support.databases import APP_ROLE



@pytest.fixture(scope="module", params=["postgresql", "citus"])
def pg_url(request: pytest.FixtureRequest, pg_url: str) -> str:
    """This module runs on PostgreSQL and on the Citus cluster."""
    return pg_url if request.param == "postgresql" else str(request.getfixturevalue("citus_url"))

@pytest_asyncio.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_url, pool_size=4, max_overflow=0)
    yield engine
    await engine.dispose()


async def test_reads_only_the_tenants_cities_in_order(engine: AsyncEngine) -> None:
    sessions = Transactions(engine, TransactionScope())
    first = await make_tenant_with_cities(sessions, "b", "a", "c")
    second = await make_tenant_with_cities(sessions, "z")
    reader = SqlaCityReader(sessions)
    results = await asyncio.gather(*[reader.biggest(t, 10) for t in [first, second] * 20])
    for tenant, cities in zip([first, second] * 20, results):
        assert {c.tenant_id for c in cities} == {tenant}
        assert [c.name for c in cities] == (["a", "b", "c"] if tenant == first else ["z"])
    assert [c.name for c in await reader.biggest(first, 2)] == ["a", "b"]


async def test_cancelled_reads_leave_no_open_transaction(engine: AsyncEngine, pg_url: str) -> None:
    sessions = Transactions(engine, TransactionScope())
    tenant = await make_tenant_with_cities(sessions, "x", "y")
    reader = SqlaCityReader(sessions)
    for delay in [0.0, 0.0001, 0.0003, 0.0006, 0.001, 0.002] * 5:
        try:
            await asyncio.wait_for(reader.biggest(tenant, 10), delay)
        except TimeoutError:
            pass
    assert engine.pool.checkedout() == 0
    watcher = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        for _ in range(100):
            stuck = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND pid <> "
                "pg_backend_pid() AND state LIKE 'idle in transaction%'", APP_ROLE)
            if stuck == 0:
                break
            await asyncio.sleep(0.05)
        assert stuck == 0
    finally:
        await watcher.close()
    assert [c.name for c in await reader.biggest(tenant, 10)] == ["x", "y"]


async def test_a_transaction_without_a_tenant_sees_nothing(engine: AsyncEngine) -> None:
    from sqlalchemy import text

    sessions = Transactions(engine, TransactionScope())
    await make_tenant_with_cities(sessions, "only")
    async with sessions.open(None, readonly=True) as transaction:
        assert await transaction.scalar(text("SELECT count(*) FROM cities")) == 0


async def test_api_key_reader_finds_a_key_only_in_its_tenant(engine: AsyncEngine) -> None:
    from adapters.sqlalchemy.readers import SqlaApiKeyReader
    from adapters.sqlalchemy.unit_of_work import SqlaOperatorUnitOfWork
    from domain.ids import new_id
    from domain.model import ApiKey, RateLimit

    sessions = Transactions(engine, TransactionScope())
    owner = await make_tenant_with_cities(sessions)
    other = await make_tenant_with_cities(sessions)
    key = ApiKey(id=new_id(), tenant_id=owner, secret_hash="0" * 64,
                 created_at=datetime.now(UTC))
    async with SqlaOperatorUnitOfWork(sessions) as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    reader = SqlaApiKeyReader(sessions)
    found = await reader.credentials(owner, key.id)
    assert found is not None and found[0].id == key.id and found[0].tenant_id == owner
    assert found[1] is None  # the defaults
    async with SqlaOperatorUnitOfWork(sessions) as uow:
        tenant = await uow.tenants.get(owner)
        assert tenant is not None
        await uow.tenants.update(replace(tenant, rate_limit=RateLimit(2.5, 7)))
        await uow.commit()
    found = await reader.credentials(owner, key.id)
    assert found is not None and found[1] == RateLimit(2.5, 7)  # the tenant's own, same read
    assert await reader.credentials(other, key.id) is None
    assert engine.pool.checkedout() == 0
