"""City use cases beyond plain records."""

from collections.abc import Sequence

from domain.model import City
from domain.ports import UnitOfWorkFactory
from domain.tenancy import TenantId

BIGGEST_DEFAULT, BIGGEST_MAX = 20, 100


class BiggestCities:
    """The tenant's `limit` most populated cities, most populated first, ties by name."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, tenant_id: TenantId, limit: int = BIGGEST_DEFAULT) -> Sequence[City]:
        async with self._uow(tenant_id) as uow:
            return await uow.cities.biggest(limit)
