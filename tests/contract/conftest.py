"""The contract suite's adapters: memory, SQLite and PostgreSQL behind the same ports.

`uow_factories` opens tenant and operator units of work on one adapter; each test makes
its own tenants, so the databases (shared by the whole session) need no cleanup. The SQL
legs use `sqlite_url` and `pg_url` from tests/conftest.py: databases at the migrations' head."""

from collections.abc import AsyncIterator, Callable
import dataclasses
from dataclasses import dataclass

import pytest
import pytest_asyncio

from adapters.memory import (InMemoryApiKeyReader, InMemoryCityReader, MemoryIdempotencyStore, MemoryKeyEventFeed,
                             MemoryOperatorUnitOfWork, MemoryStore, MemoryUnitOfWork)
from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.idempotency import SqlaIdempotencyStore
from adapters.sqlalchemy.key_events import SqlaKeyEventFeed
from adapters.sqlalchemy.readers import SqlaApiKeyReader, SqlaCityReader
from adapters.sqlalchemy.transactions import Transactions, TransactionScope
from adapters.sqlalchemy.unit_of_work import SqlaOperatorUnitOfWork, SqlaUnitOfWork
from domain.ids import new_id
from domain.model import Tenant
from domain.ports import (ApiKeyReader, CityReader, IdempotencyStore, KeyEventFeed,
                          OperatorUnitOfWork, UnitOfWork)
from domain.tenancy import TenantId
from tests.contract.helpers import utcnow

Sessions = Transactions


@dataclass(frozen=True)
class UowFactories:
    """Opens units of work on one adapter: `tenant(tenant_id)` and `operator()`; and the
    adapter's idempotency store and readers, on the same data."""

    name: str
    tenant: Callable[[TenantId], UnitOfWork]
    operator: Callable[[], OperatorUnitOfWork]
    idempotency: IdempotencyStore
    key_event_feed: Callable[[], KeyEventFeed]
    key_reader: Callable[[], ApiKeyReader]
    city_reader: Callable[[], CityReader]

    @property
    def is_sql(self) -> bool:
        return self.name != "memory"

    async def new_tenant(self, tenant_id: TenantId | None = None) -> Tenant:
        """A committed tenant with a unique slug: the owner that tenant tables refer to."""
        tenant = Tenant.create(f"contract-{new_id().hex}", "Contract test", utcnow())
        if tenant_id is not None:
            tenant = dataclasses.replace(tenant, id=tenant_id)
        async with self.operator() as uow:
            await uow.tenants.add(tenant)
            await uow.commit()
        return tenant


async def _sessions(url: str, dialect: str) -> AsyncIterator[Sessions]:
    engine = create_engine(url, pool_size=10, max_overflow=15)
    try:
        yield Transactions(engine, TransactionScope.for_dialect(dialect))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def sqlite_sessions(sqlite_url: str) -> AsyncIterator[Sessions]:
    async for sessions in _sessions(sqlite_url, "sqlite"):
        yield sessions


@pytest_asyncio.fixture(scope="session")
async def pg_sessions(pg_url: str) -> AsyncIterator[Sessions]:
    async for sessions in _sessions(pg_url, "postgresql"):
        yield sessions


@pytest_asyncio.fixture(scope="session")
async def citus_sessions(citus_url: str) -> AsyncIterator[Sessions]:
    async for sessions in _sessions(citus_url, "postgresql"):  # auto: finds Citus itself
        yield sessions


_SESSIONS = {"sqlite": "sqlite_sessions", "postgresql": "pg_sessions",
             "citus": "citus_sessions"}


@pytest.fixture(params=["memory", "sqlite", "postgresql", "citus"])
def uow_factories(request: pytest.FixtureRequest) -> UowFactories:
    if request.param == "memory":
        store = MemoryStore()
        return UowFactories("memory", lambda tenant_id: MemoryUnitOfWork(store, tenant_id),
                            lambda: MemoryOperatorUnitOfWork(store), MemoryIdempotencyStore(store),
                            lambda: MemoryKeyEventFeed(store),
                            lambda: InMemoryApiKeyReader(store),
                            lambda: InMemoryCityReader(store))
    sessions: Sessions = request.getfixturevalue(_SESSIONS[request.param])
    return UowFactories(request.param,
                        lambda tenant_id: SqlaUnitOfWork(sessions, tenant_id),
                        lambda: SqlaOperatorUnitOfWork(sessions),
                        SqlaIdempotencyStore(sessions),
                        lambda: SqlaKeyEventFeed(sessions),
                        lambda: SqlaApiKeyReader(sessions),
                        lambda: SqlaCityReader(sessions))


@pytest.fixture
def city_reader(uow_factories: UowFactories) -> CityReader:
    """The adapter's CityReader: each read a transaction of its own, outside any unit of work."""
    return uow_factories.city_reader()


@pytest.fixture
async def tenant(uow_factories: UowFactories) -> Tenant:
    return await uow_factories.new_tenant()


@pytest.fixture
async def other_tenant(uow_factories: UowFactories) -> Tenant:
    return await uow_factories.new_tenant()
