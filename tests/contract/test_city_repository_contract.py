"""Cities: unique names per tenant, 64-bit populations; and the CityReader's biggest cities."""

import pytest

from adapters.sqlalchemy.errors import constraint_name
from domain.errors import AlreadyExists
from domain.model import CITIES, Tenant
from domain.model.rules import INT64_MAX
from domain.ports import CityReader
from tests.contract.conftest import UowFactories
from tests.contract.helpers import assert_plain, assert_utc, city, utcnow


def assert_translated(uow_factories: UowFactories, error: AlreadyExists, constraint: str) -> None:
    """On SQL adapters the domain error was translated from the named unique constraint."""
    if uow_factories.is_sql:
        assert constraint_name(error.__cause__) == constraint  # type: ignore[arg-type]


async def test_a_taken_name_on_add_is_already_exists(uow_factories: UowFactories,
                                                     tenant: Tenant) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(CITIES).add(city(tenant.id, "Oslo"))
        await uow.commit()
    with pytest.raises(AlreadyExists) as excinfo:
        async with uow_factories.tenant(tenant.id) as uow:
            await uow.records(CITIES).add(city(tenant.id, "Oslo", 5))
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("city", "name", "Oslo")
    assert_translated(uow_factories, error, "uq_cities_tenant_id_name")
    async with uow_factories.tenant(tenant.id) as uow:
        assert [c.population for c in await uow.records(CITIES).list(after=None, limit=10)] == [
            700_000]


async def test_names_are_case_sensitive(uow_factories: UowFactories, tenant: Tenant) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(CITIES).add(city(tenant.id, "oslo"))
        await uow.records(CITIES).add(city(tenant.id, "Oslo"))
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert len(await uow.records(CITIES).list(after=None, limit=10)) == 2


async def test_a_taken_name_on_save_is_already_exists(uow_factories: UowFactories,
                                                      tenant: Tenant) -> None:
    rome, paris = city(tenant.id, "Rome"), city(tenant.id, "Paris")
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(CITIES).add(rome)
        await uow.records(CITIES).add(paris)
        await uow.commit()
    with pytest.raises(AlreadyExists) as excinfo:
        async with uow_factories.tenant(tenant.id) as uow:
            current = await uow.records(CITIES).get(paris.id, for_update=True)
            assert current == paris
            await uow.records(CITIES).save(current.changed({"name": "Rome"}, utcnow()),
                                           expected_version=current.version)
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("city", "name", "Rome")
    assert_translated(uow_factories, error, "uq_cities_tenant_id_name")
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(CITIES).get(paris.id) == paris
        same = paris.changed({"name": "Paris"}, utcnow())  # its own name is no conflict
        assert await uow.records(CITIES).save(same, expected_version=1) is True
        assert await uow.records(CITIES).get(paris.id) == same
        assert same.version == 2


async def test_biggest_is_by_population_then_name(uow_factories: UowFactories,
                                                  city_reader: CityReader,
                                                  tenant: Tenant) -> None:
    rows = [("b", 10), ("huge", INT64_MAX), ("a", 10), ("zero", 0), ("B", 10), ("mid", 11)]
    async with uow_factories.tenant(tenant.id) as uow:
        for name, population in rows:
            await uow.records(CITIES).add(city(tenant.id, name, population))
        await uow.commit()
    everything = await city_reader.biggest(tenant.id, 100)
    top3 = await city_reader.biggest(tenant.id, 3)
    assert [(c.name, c.population) for c in everything] == [
        ("huge", INT64_MAX), ("mid", 11), ("B", 10), ("a", 10), ("b", 10), ("zero", 0)]
    assert [c.name for c in top3] == ["huge", "mid", "B"]
    for c in everything:
        assert c.tenant_id == tenant.id
        assert_utc(c.created_at)
        assert_plain(c)


async def test_biggest_is_one_tenants_and_only_what_was_committed(
        uow_factories: UowFactories, city_reader: CityReader, tenant: Tenant,
        other_tenant: Tenant) -> None:
    async with uow_factories.tenant(other_tenant.id) as uow:
        await uow.records(CITIES).add(city(other_tenant.id, "Theirs", INT64_MAX))
        await uow.commit()
    mine = city(tenant.id, "Mine", 1)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(CITIES).add(mine)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(CITIES).add(city(tenant.id, "Rolled back", 10**12))
    assert await city_reader.biggest(tenant.id, 10) == [mine]
    assert [c.name for c in await city_reader.biggest(other_tenant.id, 10)] == ["Theirs"]


async def test_the_largest_population_round_trips(uow_factories: UowFactories,
                                                  tenant: Tenant) -> None:
    big, small = city(tenant.id, "Max", INT64_MAX), city(tenant.id, "Small", 0)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(CITIES).add(big)
        await uow.records(CITIES).add(small)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert (await uow.records(CITIES).get(big.id)).population == INT64_MAX
        assert [c.population for c in await uow.records(CITIES).list(after=None, limit=5)] == [
            INT64_MAX, 0]
        grown = small.changed({"population": INT64_MAX}, utcnow())
        assert await uow.records(CITIES).save(grown, expected_version=1) is True
        await uow.commit()
    assert grown.population == INT64_MAX
    async with uow_factories.tenant(tenant.id) as uow:
        assert (await uow.records(CITIES).get(small.id)).population == INT64_MAX
