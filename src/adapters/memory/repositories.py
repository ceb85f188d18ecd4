"""Repositories over plain dicts, with the same semantics as the SQL ones."""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from domain.errors import AlreadyExists, NotFound
from domain.model import CITIES, ApiKey, City, KeyEvent, RateLimit, Record, Tenant, User
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)
# One table of the memory store: its rows (entities of the table's one kind) by key.
Table = dict[Any, Any]


class InMemoryRecordRepository(Generic[R]):
    """Records of one kind, filtered to one tenant; `unique` names fields unique per tenant."""

    def __init__(self, rows: Table, tenants: Table, tenant_id: TenantId,
                 unique: tuple[str, ...] = ()) -> None:
        self._rows, self._tenants, self._tenant, self._unique = rows, tenants, tenant_id, unique

    def _mine(self) -> list[R]:
        return [r for r in self._rows.values() if r.tenant_id == self._tenant]

    def _check_unique(self, record: R) -> None:
        for name in self._unique:
            value = getattr(record, name)
            if any(getattr(r, name) == value and r.id != record.id for r in self._mine()):
                raise AlreadyExists(record.KIND, name, value)

    async def add(self, record: R) -> None:
        if self._tenant not in self._tenants:  # as the SQL foreign key does
            raise NotFound("tenant", self._tenant)
        self._check_unique(record)
        self._rows[record.id] = record

    async def get(self, record_id: UUID, *, for_update: bool = False) -> R | None:
        record = self._rows.get(record_id)  # one unit of work at a time: always held
        return record if record is not None and record.tenant_id == self._tenant else None

    async def list(self, *, after: UUID | None, limit: int,
                   filters: Mapping[str, object] | None = None) -> Sequence[R]:
        rows = sorted((r for r in self._mine() if after is None or r.id > after), key=lambda r: r.id)
        rows = [r for r in rows if all(getattr(r, k) == v for k, v in (filters or {}).items())]
        return rows[:limit]

    async def save(self, record: R, *, expected_version: int) -> bool:
        current = await self.get(record.id)
        if current is None or current.version != expected_version:
            return False
        self._check_unique(record)
        self._rows[record.id] = record
        return True

    async def delete(self, record_id: UUID, *, expected_version: int | None) -> bool:
        current = await self.get(record_id)
        if current is None or expected_version not in (None, current.version):
            return False
        del self._rows[record_id]
        return True


class InMemoryUserRepository(InMemoryRecordRepository[User]):
    async def get_by_name(self, name: str) -> User | None:
        return next((u for u in self._mine() if u.name == name), None)

    async def get_or_add(self, user: User) -> tuple[User, bool]:
        existing = await self.get_by_name(user.name)
        if existing is not None:
            return existing, False
        await self.add(user)
        return user, True


class _Store(Protocol):
    tables: dict[str, Table]
    lock: asyncio.Lock


class InMemoryCityReader:
    """A CityReader over the memory store: each read holds the store's lock, as a unit of work
    does, and sees only what was committed."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    async def biggest(self, tenant_id: TenantId, limit: int) -> Sequence[City]:
        async with self._store.lock:
            cities = [c for c in self._store.tables[CITIES.collection].values()
                      if isinstance(c, City) and c.tenant_id == tenant_id]
        return sorted(cities, key=lambda c: (-c.population, c.name))[:limit]


class InMemoryApiKeyReader:
    """An ApiKeyReader over the memory store: each lookup holds the store's lock, as a unit of
    work does, and sees only what was committed."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    async def credentials(self, tenant_id: TenantId, key_id: UUID,
                          ) -> tuple[ApiKey, RateLimit | None] | None:
        async with self._store.lock:
            key = self._store.tables["api_keys"].get(key_id)
            tenant = self._store.tables["tenants"].get(tenant_id)
        if not isinstance(key, ApiKey) or key.tenant_id != tenant_id:
            return None
        return (key, tenant.rate_limit) if isinstance(tenant, Tenant) else None


class InMemoryTenantRepository:
    def __init__(self, tenants: Table, cascade: list[Table], keys: Table) -> None:
        self._tenants, self._cascade, self._keys = tenants, cascade, keys

    async def add(self, tenant: Tenant) -> None:
        if await self.get_by_slug(tenant.slug) is not None:
            raise AlreadyExists("tenant", "slug", tenant.slug)
        self._tenants[tenant.id] = tenant

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        tenant: Tenant | None = self._tenants.get(tenant_id)
        return tenant

    async def update(self, tenant: Tenant) -> bool:
        if tenant.id not in self._tenants:
            return False
        self._tenants[tenant.id] = tenant
        return True

    async def get_by_slug(self, slug: str) -> Tenant | None:
        return next((t for t in self._tenants.values() if t.slug == slug), None)

    async def list(self, *, after: UUID | None, limit: int) -> Sequence[Tenant]:
        ids = sorted(i for i in self._tenants if after is None or i > after)[:limit]
        return [self._tenants[i] for i in ids]

    async def delete(self, tenant_id: TenantId) -> bool:
        if self._tenants.pop(tenant_id, None) is None:
            return False
        for table in [*self._cascade, self._keys]:
            for key in [k for k, r in table.items() if r.tenant_id == tenant_id]:
                del table[key]
        return True


class InMemoryApiKeyRepository:
    def __init__(self, keys: Table, tenants: Table) -> None:
        self._keys, self._tenants = keys, tenants

    async def add(self, key: ApiKey) -> None:
        if key.tenant_id not in self._tenants:
            raise NotFound("tenant", key.tenant_id)
        self._keys[key.id] = key

    async def get(self, tenant_id: TenantId, key_id: UUID) -> ApiKey | None:
        key = self._keys.get(key_id)
        return key if isinstance(key, ApiKey) and key.tenant_id == tenant_id else None

    async def list(self, tenant_id: TenantId, *, after: UUID | None,
                   limit: int) -> Sequence[ApiKey]:
        keys = sorted((k for k in self._keys.values() if isinstance(k, ApiKey)
                       and k.tenant_id == tenant_id and (after is None or k.id > after)),
                      key=lambda k: k.id)
        return keys[:limit]

    async def revoke(self, tenant_id: TenantId, key_id: UUID, *, now: datetime) -> bool:
        key = await self.get(tenant_id, key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._keys[key_id] = replace(key, revoked_at=now)
        return True

    async def expire(self, tenant_id: TenantId, key_id: UUID, *, at: datetime) -> None:
        key = await self.get(tenant_id, key_id)
        if key is not None:
            self._keys[key_id] = replace(key, expires_at=at)

    async def touch(self, tenant_id: TenantId, key_id: UUID, *, at: datetime,
                    unless_since: datetime) -> None:
        key = await self.get(tenant_id, key_id)
        if key is not None and (key.last_used_at is None or key.last_used_at < unless_since):
            self._keys[key_id] = replace(key, last_used_at=at)


class InMemoryKeyEventLog:
    def __init__(self, events: Table) -> None:
        self._events = events

    async def publish(self, event: KeyEvent) -> None:
        self._events[event.id] = event
