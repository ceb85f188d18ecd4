"""City use cases beyond plain records."""

from collections.abc import Sequence

from domain.model import City
from domain.ports import CityReader
from domain.tenancy import TenantId

BIGGEST_DEFAULT, BIGGEST_MAX = 20, 100


class BiggestCities:
    """The tenant's `limit` most populated cities, most populated first, ties by name."""

    def __init__(self, reader: CityReader) -> None:
        self._reader = reader

    async def __call__(self, tenant_id: TenantId, limit: int = BIGGEST_DEFAULT) -> Sequence[City]:
        return await self._reader.biggest(tenant_id, limit)
