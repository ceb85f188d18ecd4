"""CityRepository: unique names per tenant, the biggest cities, 64-bit populations."""

import pytest

from adapters.sqlalchemy.errors import constraint_name
from domain.errors import AlreadyExists
from domain.model import Tenant
from domain.model.rules import INT64_MAX
from tests.contract.conftest import UowFactories
from tests.contract.helpers import assert_plain, assert_utc, city, utcnow


def assert_translated(uow_factories: UowFactories, error: AlreadyExists, constraint: str) -> None:
    """On SQL adapters the domain error was translated from the named unique constraint."""
    if uow_factories.is_sql:
        assert constraint_name(error.__cause__) == constraint  # type: ignore[arg-type]


async def test_a_taken_name_on_add_is_already_exists(uow_factories: UowFactories,
                                                     tenant: Tenant) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.cities.add(city(tenant.id, "Oslo"))
        await uow.commit()
    with pytest.raises(AlreadyExists) as excinfo:
        async with uow_factories.tenant(tenant.id) as uow:
            await uow.cities.add(city(tenant.id, "Oslo", 5))
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("city", "name", "Oslo")
    assert_translated(uow_factories, error, "uq_cities_tenant_id_name")
    async with uow_factories.tenant(tenant.id) as uow:
        assert [c.population for c in await uow.cities.list(after=None, limit=10)] == [700_000]


async def test_names_are_case_sensitive(uow_factories: UowFactories, tenant: Tenant) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.cities.add(city(tenant.id, "oslo"))
        await uow.cities.add(city(tenant.id, "Oslo"))
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert len(await uow.cities.list(after=None, limit=10)) == 2


async def test_a_taken_name_on_update_is_already_exists(uow_factories: UowFactories,
                                                        tenant: Tenant) -> None:
    rome, paris = city(tenant.id, "Rome"), city(tenant.id, "Paris")
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.cities.add(rome)
        await uow.cities.add(paris)
        await uow.commit()
    with pytest.raises(AlreadyExists) as excinfo:
        async with uow_factories.tenant(tenant.id) as uow:
            await uow.cities.update(paris.id, {"name": "Rome"}, now=utcnow(),
                                    expected_version=None)
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("city", "name", "Rome")
    assert_translated(uow_factories, error, "uq_cities_tenant_id_name")
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.cities.get(paris.id) == paris
        same = await uow.cities.update(paris.id, {"name": "Paris"}, now=utcnow(),
                                       expected_version=1)
        assert same is not None and same.version == 2


async def test_biggest_is_by_population_then_name(uow_factories: UowFactories,
                                                  tenant: Tenant) -> None:
    rows = [("b", 10), ("huge", INT64_MAX), ("a", 10), ("zero", 0), ("B", 10), ("mid", 11)]
    async with uow_factories.tenant(tenant.id) as uow:
        for name, population in rows:
            await uow.cities.add(city(tenant.id, name, population))
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        everything = await uow.cities.biggest(100)
        top3 = await uow.cities.biggest(3)
    assert [(c.name, c.population) for c in everything] == [
        ("huge", INT64_MAX), ("mid", 11), ("B", 10), ("a", 10), ("b", 10), ("zero", 0)]
    assert [c.name for c in top3] == ["huge", "mid", "B"]
    for c in everything:
        assert_utc(c.created_at)
        assert_plain(c)


async def test_the_largest_population_round_trips(uow_factories: UowFactories,
                                                  tenant: Tenant) -> None:
    big, small = city(tenant.id, "Max", INT64_MAX), city(tenant.id, "Small", 0)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.cities.add(big)
        await uow.cities.add(small)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert (await uow.cities.get(big.id)).population == INT64_MAX
        assert [c.population for c in await uow.cities.list(after=None, limit=5)] == [
            INT64_MAX, 0]
        grown = await uow.cities.update(small.id, {"population": INT64_MAX}, now=utcnow(),
                                        expected_version=1)
        await uow.commit()
    assert grown is not None and grown.population == INT64_MAX
    async with uow_factories.tenant(tenant.id) as uow:
        assert (await uow.cities.get(small.id)).population == INT64_MAX
