"""Repositories as Core statements in the unit of work's transaction, always tenant-scoped."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import Select, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.tables import (RECORD_TABLES, api_keys, cities, idempotency_keys,
                                        key_events, tenants, users)
from adapters.sqlalchemy.transactions import Transaction
from domain.model import CITIES, USERS, ApiKey, KeyEvent, RateLimit, Record, Resource, Tenant, User
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)


class _Statements:
    """One table's statements, built once: the tenant and every value are bound parameters,
    so each runs from SQLAlchemy's compiled cache without being rebuilt."""

    def __init__(self, table: Table) -> None:
        c = table.c
        self.table, self.columns = table, tuple(column.name for column in c)
        self.scoped = c.tenant_id == bindparam("scope_tenant")
        self.get = select(table).where(self.scoped, c.id == bindparam("id"))
        self.get_for_update = self.get.with_for_update()
        self.insert = insert(table)
        kept = {"tenant_id", "id", "created_at"}
        self.save = (update(table)
                     .where(self.scoped, c.id == bindparam("record_id"),
                            c.version == bindparam("expected_version"))
                     .values({name: bindparam(name) for name in self.columns if name not in kept})
                     .returning(c.id))
        self._pages: dict[tuple[bool, tuple[str, ...]], Select[Any]] = {}

    def page(self, after: bool, filters: tuple[str, ...]) -> Select[Any]:
        """Keyset page in id order, optionally after an id and filtered by exact matches."""
        key = (after, filters)
        if key not in self._pages:
            c, statement = self.table.c, select(self.table).where(self.scoped)
            if after:
                statement = statement.where(c.id > bindparam("after"))
            for name in filters:
                statement = statement.where(c[name] == bindparam(f"filter_{name}"))
            self._pages[key] = statement.order_by(c.id).limit(bindparam("limit"))
        return self._pages[key]


STATEMENTS = {resource: _Statements(table) for resource, table in RECORD_TABLES.items()}
BIGGEST_CITIES = (select(cities).where(STATEMENTS[CITIES].scoped)
                  .order_by(cities.c.population.desc(), cities.c.name).limit(bindparam("limit")))
_USER_BY_NAME = select(users).where(STATEMENTS[USERS].scoped, users.c.name == bindparam("name"))
_USER_BY_NAME_FOR_UPDATE = _USER_BY_NAME.with_for_update()
_DRIVER_SQL: dict[Any, tuple[str, tuple[str, ...]]] = {}


def driver_sql(statement: Any, dialect: Any) -> tuple[str, tuple[str, ...]]:
    """A prebuilt statement compiled once for asyncpg: its SQL and its parameters' order."""
    if statement not in _DRIVER_SQL:
        compiled = statement.compile(dialect=dialect)
        _DRIVER_SQL[statement] = (compiled.string, tuple(compiled.positiontup or ()))
    return _DRIVER_SQL[statement]


async def _on_driver(transaction: Transaction, statement: Any,
                     parameters: Mapping[str, object], fetch: bool) -> Any:
    """Run a prebuilt statement straight on the transaction's asyncpg connection, without
    SQLAlchemy's per-execution work. Returns NotImplemented on SQLite, for the caller to go
    through SQLAlchemy instead."""
    driver = await transaction.driver()
    if driver is None:
        return NotImplemented
    sql, names = driver_sql(statement, transaction.dialect)
    arguments = [parameters[name] for name in names]
    return await (driver.fetch(sql, *arguments) if fetch else driver.execute(sql, *arguments))


class SqlaRecordRepository(Generic[R]):
    """One tenant's records of one kind: every statement carries the unit of work's tenant."""

    def __init__(self, transaction: Transaction, tenant_id: TenantId,
                 resource: Resource[R]) -> None:
        self._tx, self._tenant, self._entity = transaction, tenant_id, resource.entity
        self._statements = STATEMENTS[resource]
        self._table = self._statements.table

    async def _execute(self, statement: Any, parameters: Mapping[str, object] | None = None,
                       values: Mapping[str, object] | None = None) -> Any:
        """Run a Core statement on the transaction's connection."""
        with translated(values):
            connection = await self._tx.connection()
            return await connection.execute(statement, {"scope_tenant": self._tenant,
                                                        **(parameters or {})})

    async def _rows(self, statement: Any, parameters: Mapping[str, object] | None = None,
                    values: Mapping[str, object] | None = None) -> list[R]:
        result = await self._execute(statement, parameters, values)
        names, entity = tuple(result.keys()), self._entity
        return [entity(**dict(zip(names, row))) for row in result.all()]

    async def _read(self, statement: Any, parameters: Mapping[str, object]) -> list[R]:
        """A prebuilt read, straight on the driver on PostgreSQL."""
        with translated():
            records = await _on_driver(self._tx, statement,
                                       {"scope_tenant": self._tenant, **parameters}, fetch=True)
        if records is NotImplemented:
            return await self._rows(statement, parameters)
        return [self._entity(**record) for record in records]

    async def _write(self, statement: Any, values: Mapping[str, object], *,
                     fetch: bool = False) -> Any:
        """A prebuilt write of `values`, straight on the driver on PostgreSQL."""
        with translated(values):
            done = await _on_driver(self._tx, statement, values, fetch=fetch)
            if done is NotImplemented:
                connection = await self._tx.connection()
                result = await connection.execute(statement, dict(values))
                return result.all() if fetch else None
            return done

    async def add(self, record: R) -> None:
        await self._write(self._statements.insert,
                          {name: getattr(record, name) for name in self._statements.columns})

    async def get(self, record_id: UUID, *, for_update: bool = False) -> R | None:
        statement = self._statements.get_for_update if for_update else self._statements.get
        rows = await self._read(statement, {"id": record_id})
        return rows[0] if rows else None

    async def list(self, *, after: UUID | None, limit: int,
                   filters: Mapping[str, object] | None = None) -> Sequence[R]:
        filters = filters or {}
        statement = self._statements.page(after is not None, tuple(sorted(filters)))
        parameters: dict[str, object] = {f"filter_{k}": v for k, v in filters.items()}
        parameters |= {"after": after, "limit": limit} if after is not None else {"limit": limit}
        return await self._read(statement, parameters)

    async def save(self, record: R, *, expected_version: int) -> bool:
        values = {name: getattr(record, name) for name in self._statements.columns}
        values |= {"scope_tenant": self._tenant, "record_id": record.id,
                   "expected_version": expected_version}
        return bool(await self._write(self._statements.save, values, fetch=True))

    async def delete(self, record_id: UUID, *, expected_version: int | None) -> bool:
        t = self._table
        statement = delete(t).where(self._statements.scoped, t.c.id == record_id).returning(t.c.id)
        if expected_version is not None:
            statement = statement.where(t.c.version == expected_version)
        result = await self._execute(statement)
        return result.first() is not None


def dialect_insert(transaction: Transaction, table: Table) -> Any:
    """INSERT with ON CONFLICT for the transaction's dialect."""
    dialect = transaction.dialect_name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class SqlaUserRepository(SqlaRecordRepository[User]):
    def __init__(self, transaction: Transaction, tenant_id: TenantId) -> None:
        super().__init__(transaction, tenant_id, USERS)

    async def get_by_name(self, name: str) -> User | None:
        rows = await self._read(_USER_BY_NAME, {"name": name})
        return rows[0] if rows else None

    async def get_or_add(self, user: User) -> tuple[User, bool]:
        values = {column.name: getattr(user, column.name) for column in self._table.c}
        statement = (dialect_insert(self._tx, self._table).values(values)
                     .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
                     .returning(*self._table.c))
        rows = await self._rows(statement, values=values)
        if rows:
            return rows[0], True
        existing = await self._read(_USER_BY_NAME_FOR_UPDATE, {"name": user.name})
        assert existing, "a conflicting row is visible once its writer committed"
        return existing[0], False


def rate_limit_of(row: Mapping[str, Any]) -> RateLimit | None:
    """The tenant's own rate limit from its two columns; None when they are null."""
    rate, burst = row["rate_limit_rate"], row["rate_limit_burst"]
    return None if rate is None or burst is None else RateLimit(rate=rate, burst=burst)


def tenant_of(row: Mapping[str, Any]) -> Tenant:
    return Tenant(id=row["id"], slug=row["slug"], name=row["name"],
                  created_at=row["created_at"], rate_limit=rate_limit_of(row))


def _tenant_values(tenant: Tenant) -> dict[str, object]:
    limit = tenant.rate_limit
    return {"id": tenant.id, "slug": tenant.slug, "name": tenant.name,
            "created_at": tenant.created_at, "rate_limit_rate": limit.rate if limit else None,
            "rate_limit_burst": limit.burst if limit else None}


class SqlaTenantRepository:
    """The tenant registry."""

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction

    async def _one(self, statement: Any) -> Tenant | None:
        with translated():
            row = (await self._tx.execute(statement)).mappings().first()
        return tenant_of(row) if row else None

    async def add(self, tenant: Tenant) -> None:
        values = _tenant_values(tenant)
        with translated(values):
            await self._tx.execute(insert(tenants).values(values))

    async def update(self, tenant: Tenant) -> bool:
        values = _tenant_values(tenant)
        del values["id"], values["slug"], values["created_at"]
        statement = (update(tenants).where(tenants.c.id == tenant.id).values(values)
                     .returning(tenants.c.id))
        with translated(values):
            return (await self._tx.execute(statement)).first() is not None

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        return await self._one(select(tenants).where(tenants.c.id == tenant_id))

    async def get_by_slug(self, slug: str) -> Tenant | None:
        return await self._one(select(tenants).where(tenants.c.slug == slug))

    async def list(self, *, after: UUID | None, limit: int) -> Sequence[Tenant]:
        statement = select(tenants).order_by(tenants.c.id).limit(limit)
        if after is not None:
            statement = statement.where(tenants.c.id > after)
        with translated():
            result = await self._tx.execute(statement)
        return [tenant_of(row) for row in result.mappings()]

    async def delete(self, tenant_id: TenantId) -> bool:
        """Foreign keys cascade to the tenant's records and keys; its idempotency records have
        no foreign key (the operator's scope is no tenant), so they go explicitly, from inside
        the tenant's rows."""
        await self._tx.enter(tenant_id)
        with translated():
            result = await self._tx.execute(
                delete(tenants).where(tenants.c.id == tenant_id).returning(tenants.c.id))
            if result.first() is None:
                return False
            await self._tx.execute(
                delete(idempotency_keys).where(idempotency_keys.c.tenant_id == tenant_id))
        return True


def api_key_of(row: Mapping[str, Any]) -> ApiKey:
    """An ApiKey from its row (scopes are stored comma-separated)."""
    return ApiKey(**{**row, "scopes": tuple(row["scopes"].split(","))})


class SqlaApiKeyRepository:
    """API keys, by (tenant, key id); each call first enters that tenant's rows."""

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction

    def _key(self, tenant_id: TenantId, key_id: UUID) -> tuple[Any, Any]:
        return api_keys.c.tenant_id == tenant_id, api_keys.c.id == key_id

    async def add(self, key: ApiKey) -> None:
        await self._tx.enter(key.tenant_id)
        values = {"tenant_id": key.tenant_id, "id": key.id, "secret_hash": key.secret_hash,
                  "created_at": key.created_at, "revoked_at": key.revoked_at,
                  "name": key.name, "scopes": ",".join(key.scopes),
                  "expires_at": key.expires_at, "last_used_at": key.last_used_at}
        with translated(values):
            await self._tx.execute(insert(api_keys).values(values))

    async def get(self, tenant_id: TenantId, key_id: UUID) -> ApiKey | None:
        await self._tx.enter(tenant_id)
        with translated():
            row = (await self._tx.execute(
                select(api_keys).where(*self._key(tenant_id, key_id)))).mappings().first()
        return api_key_of(row) if row else None

    async def list(self, tenant_id: TenantId, *, after: UUID | None,
                   limit: int) -> Sequence[ApiKey]:
        await self._tx.enter(tenant_id)
        statement = (select(api_keys).where(api_keys.c.tenant_id == tenant_id)
                     .order_by(api_keys.c.id).limit(limit))
        if after is not None:
            statement = statement.where(api_keys.c.id > after)
        with translated():
            result = await self._tx.execute(statement)
        return [api_key_of(row) for row in result.mappings()]

    async def _update(self, tenant_id: TenantId, key_id: UUID, *conditions: Any,
                      **values: object) -> bool:
        await self._tx.enter(tenant_id)
        statement = (update(api_keys).where(*self._key(tenant_id, key_id), *conditions)
                     .values(**values).returning(api_keys.c.id))
        with translated():
            result = await self._tx.execute(statement)
        return result.first() is not None

    async def revoke(self, tenant_id: TenantId, key_id: UUID, *, now: datetime) -> bool:
        return await self._update(tenant_id, key_id, api_keys.c.revoked_at.is_(None),
                                  revoked_at=now)

    async def expire(self, tenant_id: TenantId, key_id: UUID, *, at: datetime) -> None:
        await self._update(tenant_id, key_id, expires_at=at)

    async def touch(self, tenant_id: TenantId, key_id: UUID, *, at: datetime,
                    unless_since: datetime) -> None:
        await self._update(tenant_id, key_id, or_(api_keys.c.last_used_at.is_(None),
                                                  api_keys.c.last_used_at < unless_since),
                           last_used_at=at)


class SqlaKeyEventLog:
    """The key event log, written in the operator's transaction (not a tenant table)."""

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction

    async def publish(self, event: KeyEvent) -> None:
        values = {"id": event.id, "kind": event.kind, "tenant_id": event.tenant_id,
                  "key_id": event.key_id}
        with translated(values):
            await self._tx.execute(insert(key_events).values(values))
