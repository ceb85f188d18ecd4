"""Read models: the hottest lookups as one short read-only transaction on the driver.

"The biggest cities" and an API key's lookup write nothing and need no unit of work: on
PostgreSQL each runs as BEGIN READ ONLY (carrying the tenant scope) + one prepared statement +
COMMIT, under the same row-level security as everything else; on SQLite through SQLAlchemy."""

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.repositories import BIGGEST_CITIES, api_key_of, driver_sql, rate_limit_of
from adapters.sqlalchemy.tables import api_keys, tenants
from adapters.sqlalchemy.transactions import Transactions
from domain.model import ApiKey, City, RateLimit
from domain.tenancy import TenantId

_API_KEY = (select(api_keys, tenants.c.rate_limit_rate, tenants.c.rate_limit_burst)
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .where(api_keys.c.tenant_id == bindparam("scope_tenant"),
                   api_keys.c.id == bindparam("key_id")))
_KEY_FIELDS = tuple(column.name for column in api_keys.columns)


async def read(transactions: Transactions, tenant_id: TenantId, statement: Any,
               arguments: Mapping[str, object]) -> list[Mapping[str, Any]]:
    """Run one prebuilt read for `tenant_id` in a read-only transaction of its own."""
    given = {"scope_tenant": tenant_id, **arguments}
    with translated():
        async with transactions.open(tenant_id, readonly=True) as transaction:
            driver = await transaction.driver()
            if driver is None:
                result = await transaction.execute(statement, given)
                rows: list[Mapping[str, Any]] = list(result.mappings())
            else:
                sql, names = driver_sql(statement, transaction.dialect)
                rows = list(await driver.fetch(sql, *[given[name] for name in names]))
            await transaction.commit()
            return rows


class SqlaCityReader:
    """CityReader on the service's engine and pool."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def biggest(self, tenant_id: TenantId, limit: int) -> Sequence[City]:
        records = await read(self._transactions, tenant_id, BIGGEST_CITIES, {"limit": limit})
        return [City(**record) for record in records]


class SqlaApiKeyReader:
    """ApiKeyReader on the service's engine and pool: the lookup behind every cache miss, with
    the tenant's own rate limit in the same statement."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def credentials(self, tenant_id: TenantId, key_id: UUID,
                          ) -> tuple[ApiKey, RateLimit | None] | None:
        records = await read(self._transactions, tenant_id, _API_KEY, {"key_id": key_id})
        if not records:
            return None
        row = records[0]
        return api_key_of({name: row[name] for name in _KEY_FIELDS}), rate_limit_of(row)
