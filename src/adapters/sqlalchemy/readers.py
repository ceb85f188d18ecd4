"""Read models: the hottest query as one short read-only transaction on the driver.

"The biggest cities" writes nothing and needs no unit of work: on PostgreSQL it runs as
BEGIN (carrying the tenant scope) + one prepared statement + COMMIT on a pooled asyncpg
connection, under the same row-level security as everything else. Elsewhere (SQLite) it runs
in a unit of work like any other read."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.pg_connection import ScopedBeginConnection
from adapters.sqlalchemy.repositories import BIGGEST_CITIES, driver_sql
from adapters.sqlalchemy.scope import TransactionScope
from adapters.sqlalchemy.unit_of_work import SqlaUnitOfWork
from domain.model import City
from domain.tenancy import TenantId


class SqlaCityReader:
    """CityReader on the service's engine and pool."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scope: TransactionScope) -> None:
        self._sessions, self._scope = sessions, scope
        self._engine = sessions.kw["bind"]

    async def biggest(self, tenant_id: TenantId, limit: int) -> Sequence[City]:
        if not self._scope.enabled:
            async with SqlaUnitOfWork(self._sessions, self._scope, tenant_id) as uow:
                return await uow.cities.biggest(limit)
        sql, names = driver_sql(BIGGEST_CITIES, self._engine.dialect)
        arguments = {"scope_tenant": tenant_id, "limit": limit}
        with translated():
            async with self._engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                assert isinstance(driver, ScopedBeginConnection)
                try:
                    driver.begin_suffix = self._scope.begin_sql(tenant_id)
                    async with driver.transaction(readonly=True):
                        records = await driver.fetch(sql, *[arguments[n] for n in names])
                finally:
                    driver.begin_suffix = None
                    if driver.is_closed() or driver.is_in_transaction():
                        await connection.invalidate()  # never back to the pool mid-transaction
        return [City(**record) for record in records]
