"""Repositories over plain dicts, with the same semantics as the SQL ones."""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from domain.errors import AlreadyExists, NotFound
from domain.model import ApiKey, City, KeyEvent, Record, Tenant, User
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)
Table = dict[UUID, object]


class InMemoryRecordRepository(Generic[R]):
    """Records of one kind, filtered to one tenant; `unique` names a field unique per tenant."""

    def __init__(self, rows: Table, tenants: Table, tenant_id: TenantId,
                 unique: str | None = None) -> None:
        self._rows, self._tenants, self._tenant, self._unique = rows, tenants, tenant_id, unique

    def _mine(self) -> list[R]:
        return [r for r in self._rows.values() if r.tenant_id == self._tenant]  # type: ignore[attr-defined]

    def _check_unique(self, record: R) -> None:
        if self._unique is None:
            return
        value = getattr(record, self._unique)
        if any(getattr(r, self._unique) == value and r.id != record.id for r in self._mine()):
            raise AlreadyExists(record.KIND, self._unique, value)

    async def add(self, record: R) -> None:
        if self._tenant not in self._tenants:  # as the SQL foreign key does
            raise NotFound("tenant", None)
        self._check_unique(record)
        self._rows[record.id] = record

    async def get(self, record_id: UUID) -> R | None:
        record = self._rows.get(record_id)
        return record if record is not None and record.tenant_id == self._tenant else None  # type: ignore[attr-defined,return-value]

    async def list(self, *, after: UUID | None, limit: int,
                   filters: Mapping[str, object] | None = None) -> Sequence[R]:
        rows = sorted((r for r in self._mine() if after is None or r.id > after), key=lambda r: r.id)
        rows = [r for r in rows if all(getattr(r, k) == v for k, v in (filters or {}).items())]
        return rows[:limit]

    async def update(self, record_id: UUID, changes: Mapping[str, object], *, now: datetime,
                     expected_version: int | None) -> R | None:
        current = await self.get(record_id)
        if current is None or expected_version not in (None, current.version):
            return None
        updated = current.changed(dict(changes), now)
        self._check_unique(updated)
        self._rows[record_id] = updated
        return updated

    async def delete(self, record_id: UUID, *, expected_version: int | None) -> bool:
        current = await self.get(record_id)
        if current is None or expected_version not in (None, current.version):
            return False
        del self._rows[record_id]
        return True


class InMemoryCityRepository(InMemoryRecordRepository[City]):
    async def biggest(self, limit: int) -> Sequence[City]:
        return sorted(self._mine(), key=lambda c: (-c.population, c.name))[:limit]


class InMemoryUserRepository(InMemoryRecordRepository[User]):
    async def get_by_name(self, name: str) -> User | None:
        return next((u for u in self._mine() if u.name == name), None)

    async def get_or_add(self, user: User) -> tuple[User, bool]:
        existing = await self.get_by_name(user.name)
        if existing is not None:
            return existing, False
        await self.add(user)
        return user, True

    async def upsert_full_name(self, user: User, *, now: datetime) -> tuple[User, bool]:
        existing = await self.get_by_name(user.name)
        if existing is None:
            await self.add(user)
            return user, True
        if existing.full_name == user.full_name:
            return existing, False
        updated = existing.changed({"full_name": user.full_name}, now)
        self._rows[existing.id] = updated
        return updated, False


class InMemoryTenantRepository:
    def __init__(self, tenants: Table, cascade: list[Table], keys: Table) -> None:
        self._tenants, self._cascade, self._keys = tenants, cascade, keys

    async def add(self, tenant: Tenant) -> None:
        if await self.get_by_slug(tenant.slug) is not None:
            raise AlreadyExists("tenant", "slug", tenant.slug)
        self._tenants[tenant.id] = tenant

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        return self._tenants.get(tenant_id)  # type: ignore[return-value]

    async def update(self, tenant: Tenant) -> bool:
        if tenant.id not in self._tenants:
            return False
        self._tenants[tenant.id] = tenant
        return True

    async def get_by_slug(self, slug: str) -> Tenant | None:
        return next((t for t in self._tenants.values() if t.slug == slug), None)  # type: ignore[attr-defined]

    async def list(self, *, after: UUID | None, limit: int) -> Sequence[Tenant]:
        ids = sorted(i for i in self._tenants if after is None or i > after)[:limit]
        return [self._tenants[i] for i in ids]  # type: ignore[misc]

    async def delete(self, tenant_id: TenantId) -> bool:
        if self._tenants.pop(tenant_id, None) is None:
            return False
        for table in [*self._cascade, self._keys]:
            for key in [k for k, r in table.items() if r.tenant_id == tenant_id]:  # type: ignore[attr-defined]
                del table[key]
        return True


class InMemoryApiKeyRepository:
    def __init__(self, keys: Table, tenants: Table) -> None:
        self._keys, self._tenants = keys, tenants

    async def add(self, key: ApiKey) -> None:
        if key.tenant_id not in self._tenants:
            raise NotFound("tenant", None)
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
