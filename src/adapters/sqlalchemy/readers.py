"""Read models: the hottest lookups as one short read-only transaction on the driver.

"The biggest cities" and an API key's lookup write nothing and need no unit of work: on
PostgreSQL each runs as BEGIN (carrying the tenant scope) + one prepared statement + COMMIT on a
pooled asyncpg connection, under the same row-level security as everything else. Elsewhere
(SQLite) they run in a unit of work like any other read."""

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.pg_connection import ScopedBeginConnection
from adapters.sqlalchemy.repositories import BIGGEST_CITIES, driver_sql, rate_limit_of
from adapters.sqlalchemy.scope import TransactionScope
from adapters.sqlalchemy.tables import api_keys, tenants
from adapters.sqlalchemy.unit_of_work import SqlaOperatorUnitOfWork, SqlaUnitOfWork
from domain.model import ApiKey, City, RateLimit
from domain.tenancy import TenantId

_API_KEY = (select(api_keys, tenants.c.rate_limit_rate, tenants.c.rate_limit_burst)
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .where(api_keys.c.tenant_id == bindparam("scope_tenant"),
                   api_keys.c.id == bindparam("key_id")))
_KEY_FIELDS = tuple(column.name for column in api_keys.columns)


async def read_on_driver(engine: AsyncEngine, scope: TransactionScope, tenant_id: TenantId,
                         statement: Any, arguments: Mapping[str, object]) -> list[Any]:
    """Run one prebuilt read for `tenant_id` in a read-only transaction of its own; the
    connection never goes back to the pool while a transaction is open on it."""
    sql, names = driver_sql(statement, engine.dialect)
    given = {"scope_tenant": tenant_id, **arguments}
    with translated():
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, ScopedBeginConnection)
            try:
                driver.begin_suffix = scope.begin_sql(tenant_id)
                async with driver.transaction(readonly=True):
                    return list(await driver.fetch(sql, *[given[name] for name in names]))
            finally:
                driver.begin_suffix = None
                if driver.is_closed() or driver.is_in_transaction():
                    await connection.invalidate()


class SqlaCityReader:
    """CityReader on the service's engine and pool."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scope: TransactionScope) -> None:
        self._sessions, self._scope = sessions, scope
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def biggest(self, tenant_id: TenantId, limit: int) -> Sequence[City]:
        if not self._scope.enabled:
            async with SqlaUnitOfWork(self._sessions, self._scope, tenant_id) as uow:
                return await uow.cities.biggest(limit)
        records = await read_on_driver(self._engine, self._scope, tenant_id, BIGGEST_CITIES,
                                       {"limit": limit})
        return [City(**record) for record in records]


class SqlaApiKeyReader:
    """ApiKeyReader on the service's engine and pool: the lookup behind every cache miss, with
    the tenant's own rate limit in the same statement."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scope: TransactionScope) -> None:
        self._sessions, self._scope = sessions, scope
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def get(self, tenant_id: TenantId, key_id: UUID,
                  ) -> tuple[ApiKey, RateLimit | None] | None:
        if not self._scope.enabled:
            async with SqlaOperatorUnitOfWork(self._sessions, self._scope) as uow:
                key = await uow.api_keys.get(tenant_id, key_id)
                tenant = await uow.tenants.get(tenant_id) if key is not None else None
            return (key, tenant.rate_limit) if key is not None and tenant is not None else None
        records = await read_on_driver(self._engine, self._scope, tenant_id, _API_KEY,
                                       {"key_id": key_id})
        if not records:
            return None
        row = records[0]
        return ApiKey(**{name: row[name] for name in _KEY_FIELDS}), rate_limit_of(row)
