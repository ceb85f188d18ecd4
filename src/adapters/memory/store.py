"""A dict-backed store whose units of work are serialised and atomic (copy, then swap)."""

import asyncio
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

from adapters.memory.repositories import (InMemoryApiKeyRepository, InMemoryKeyEventLog,
                                          InMemoryRecordRepository, InMemoryTenantRepository,
                                          InMemoryUserRepository, Table)
from domain.ids import id_floor
from domain.model import RESOURCES, USERS, KeyEvent, Record, Resource
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)
RECORD_TABLES = tuple(resource.collection for resource in RESOURCES)
TABLES = ("tenants", "api_keys", *RECORD_TABLES, "idempotency_keys", "key_events")


class MemoryStore:
    """All tables; one unit of work at a time holds the lock and works on copies."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {name: {} for name in TABLES}
        self.lock = asyncio.Lock()


class _MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._work: dict[str, Table] = {}

    def _open(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self._work = {name: dict(rows) for name, rows in self._store.tables.items()}
        self._open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._work = {}
        self._store.lock.release()

    async def commit(self) -> None:
        self._store.tables = {name: dict(rows) for name, rows in self._work.items()}


class MemoryUnitOfWork(_MemoryUnitOfWork):
    """A tenant's unit of work over the memory store."""

    def __init__(self, store: MemoryStore, tenant_id: TenantId) -> None:
        super().__init__(store)
        self.tenant_id = tenant_id
        self._repositories: dict[Resource[Record], InMemoryRecordRepository[Any]] = {}

    def _open(self) -> None:
        self.users = InMemoryUserRepository(self._work[USERS.collection], self._work["tenants"],
                                            self.tenant_id, unique=USERS.unique)
        self._repositories = {USERS: self.users}

    def records(self, resource: Resource[R]) -> InMemoryRecordRepository[R]:
        repository = self._repositories.get(resource)
        if repository is None:
            repository = InMemoryRecordRepository[R](
                self._work[resource.collection], self._work["tenants"], self.tenant_id,
                unique=resource.unique)
            self._repositories[resource] = repository
        return repository


class MemoryOperatorUnitOfWork(_MemoryUnitOfWork):
    """The operator's unit of work over the memory store."""

    def _open(self) -> None:
        w = self._work
        self.tenants = InMemoryTenantRepository(
            w["tenants"], [*(w[name] for name in RECORD_TABLES), w["idempotency_keys"]],
            w["api_keys"])
        self.api_keys = InMemoryApiKeyRepository(w["api_keys"], w["tenants"])
        self.key_events = InMemoryKeyEventLog(w["key_events"])


class MemoryKeyEventFeed:
    """The memory store's key events, each returned once per feed."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._seen: set[object] = set()

    async def poll(self) -> list[KeyEvent]:
        events = [e for i, e in sorted(self._store.tables["key_events"].items())
                  if i not in self._seen and isinstance(e, KeyEvent)]
        self._seen.update(e.id for e in events)
        return events

    async def prune(self, older_than: datetime) -> int:
        old = [i for i in self._store.tables["key_events"]
               if isinstance(i, UUID) and i < id_floor(int(older_than.timestamp() * 1000))]
        for i in old:
            del self._store.tables["key_events"][i]
        return len(old)
