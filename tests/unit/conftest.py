"""Use cases wired straight onto the in-memory adapters, with the real clock and hasher."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from adapters.clock import SystemClock
from adapters.memory import (InMemoryApiKeyReader, MemoryOperatorUnitOfWork, MemoryStore,
                             MemoryUnitOfWork)
from adapters.security.cache import TtlCredentialCache
from adapters.security.hashing import Sha256KeyHasher
from domain.ids import new_id
from domain.model import BOOKS, CITIES, USERS, Record, Resource
from domain.tenancy import TenantId
from domain.use_cases.records import (
    CreateRecord,
    DeleteRecord,
    GetRecord,
    ListRecords,
    UpdateRecord,
)
from domain.use_cases.tenants import CreateTenant


class SteppingClock:
    """A clock that moves only when told to: `now()` is exact and predictable."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class ManualMonotonic:
    """A stand-in for time.monotonic, for the credential cache."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def uow(store: MemoryStore):
    return lambda tenant: MemoryUnitOfWork(store, tenant)


@pytest.fixture
def operator_uow(store: MemoryStore):
    return lambda: MemoryOperatorUnitOfWork(store)


@pytest.fixture
def key_reader(store: MemoryStore) -> InMemoryApiKeyReader:
    return InMemoryApiKeyReader(store)


async def _new_tenant(operator_uow) -> TenantId:
    create = CreateTenant(operator_uow, SystemClock(), Sha256KeyHasher(),
                          TtlCredentialCache(ttl=0))
    tenant, _ = await create(f"tenant-{new_id().hex}")
    return tenant.id


@pytest.fixture
async def tenant_id(operator_uow) -> TenantId:
    """A registered tenant: records can only be written for tenants that exist."""
    return await _new_tenant(operator_uow)


@pytest.fixture
async def other_tenant_id(operator_uow) -> TenantId:
    return await _new_tenant(operator_uow)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def monotonic() -> ManualMonotonic:
    return ManualMonotonic()


@pytest.fixture
def cache(monotonic: ManualMonotonic) -> TtlCredentialCache:
    return TtlCredentialCache(ttl=30, clock=monotonic)


@pytest.fixture
def hasher() -> Sha256KeyHasher:
    return Sha256KeyHasher()


class RecordCases:
    """The five record use cases, each bound to one resource kind: `books.create(tenant, fields)`
    is `CreateRecord(uow, clock)(BOOKS, tenant, fields)`."""

    def __init__(self, uow, clock, resource: Resource[Record]) -> None:
        self.create = partial(CreateRecord(uow, clock), resource)
        self.get = partial(GetRecord(uow, clock), resource)
        self.list = partial(ListRecords(uow, clock), resource)
        self.update = partial(UpdateRecord(uow, clock), resource)
        self.delete = partial(DeleteRecord(uow, clock), resource)


@pytest.fixture
def books(uow) -> RecordCases:
    return RecordCases(uow, SystemClock(), BOOKS)


@pytest.fixture
def stepped_books(uow, clock: SteppingClock) -> RecordCases:
    return RecordCases(uow, clock, BOOKS)


@pytest.fixture
def cities(uow) -> RecordCases:
    return RecordCases(uow, SystemClock(), CITIES)


@pytest.fixture
def users(uow) -> RecordCases:
    return RecordCases(uow, SystemClock(), USERS)
