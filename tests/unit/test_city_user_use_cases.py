"""BiggestCities and the user-by-name use cases, on the in-memory adapters."""

import asyncio

import pytest

from adapters.clock import SystemClock
from adapters.memory import InMemoryCityReader, MemoryStore
from domain.errors import InvalidInput, NotFound
from domain.model.rules import INT64_MAX
from domain.use_cases.cities import BIGGEST_DEFAULT, BIGGEST_MAX, BiggestCities
from domain.use_cases.users import GetOrCreateUser, GetUserByName, UpdateOrCreateUser


@pytest.fixture
def biggest(store: MemoryStore) -> BiggestCities:
    return BiggestCities(InMemoryCityReader(store))


@pytest.fixture
def by_name(uow) -> GetUserByName:
    return GetUserByName(uow, SystemClock())


@pytest.fixture
def get_or_create(uow) -> GetOrCreateUser:
    return GetOrCreateUser(uow, SystemClock())


@pytest.fixture
def update_or_create(uow, clock) -> UpdateOrCreateUser:
    return UpdateOrCreateUser(uow, clock)


async def test_biggest_orders_by_population_then_name(cities, biggest, tenant_id,
                                                      other_tenant_id) -> None:
    for name, population in [("b", 10), ("a", 10), ("huge", INT64_MAX), ("tiny", 0),
                             ("c", 10), ("mid", 50)]:
        await cities.create(tenant_id, {"name": name, "population": population})
    await cities.create(other_tenant_id, {"name": "foreign", "population": INT64_MAX})
    result = await biggest(tenant_id, 10)
    assert [(c.name, c.population) for c in result] == [
        ("huge", INT64_MAX), ("mid", 50), ("a", 10), ("b", 10), ("c", 10), ("tiny", 0)]
    assert [c.name for c in await biggest(tenant_id, 3)] == ["huge", "mid", "a"]
    assert [c.name for c in await biggest(tenant_id, 1)] == ["huge"]


async def test_biggest_default_limit(cities, biggest, tenant_id) -> None:
    assert (BIGGEST_DEFAULT, BIGGEST_MAX) == (20, 100)
    for i in range(BIGGEST_DEFAULT + 3):
        await cities.create(tenant_id, {"name": f"c{i:02}", "population": i})
    result = await biggest(tenant_id)
    assert len(result) == BIGGEST_DEFAULT
    assert result[0].population == BIGGEST_DEFAULT + 2


async def test_biggest_of_no_cities_is_empty(biggest, tenant_id) -> None:
    assert list(await biggest(tenant_id, 5)) == []


async def test_get_user_by_name(users, by_name, tenant_id, other_tenant_id) -> None:
    ada = await users.create(tenant_id, {"name": "ada", "full_name": "Ada Lovelace"})
    assert await by_name(tenant_id, "ada") == ada
    with pytest.raises(NotFound) as excinfo:
        await by_name(tenant_id, "Ada")
    assert (excinfo.value.kind, excinfo.value.key) == ("user", "Ada")
    with pytest.raises(NotFound):
        await by_name(other_tenant_id, "ada")


async def test_get_or_create_creates_then_returns_the_existing_user_unchanged(
        get_or_create, by_name, tenant_id) -> None:
    created, was_created = await get_or_create(tenant_id, "grace", "Grace Hopper")
    assert was_created is True
    assert (created.name, created.full_name, created.version) == ("grace", "Grace Hopper", 1)
    again, was_created = await get_or_create(tenant_id, "grace", "Someone Else")
    assert was_created is False
    assert again == created
    assert await by_name(tenant_id, "grace") == created


async def test_get_or_create_defaults_full_name_to_empty(get_or_create, tenant_id) -> None:
    user, created = await get_or_create(tenant_id, "linus")
    assert created and user.full_name == ""


async def test_get_or_create_validates(get_or_create, tenant_id, users) -> None:
    with pytest.raises(InvalidInput):
        await get_or_create(tenant_id, "", "x")
    with pytest.raises(InvalidInput):
        await get_or_create(tenant_id, "ok", "x" * 201)
    with pytest.raises(InvalidInput):
        await get_or_create(tenant_id, "nul\x00", "")
    assert (await users.list(tenant_id, after=None, limit=10)).items == []


async def test_get_or_create_is_per_tenant(get_or_create, tenant_id, other_tenant_id) -> None:
    mine, created_mine = await get_or_create(tenant_id, "sam")
    theirs, created_theirs = await get_or_create(other_tenant_id, "sam")
    assert created_mine and created_theirs and mine.id != theirs.id


async def test_concurrent_get_or_create_creates_exactly_one(get_or_create, users,
                                                            tenant_id) -> None:
    results = await asyncio.gather(*(get_or_create(tenant_id, "race", f"n{i}")
                                     for i in range(20)))
    assert sum(created for _, created in results) == 1
    assert len({user.id for user, _ in results}) == 1
    assert len((await users.list(tenant_id, after=None, limit=50)).items) == 1


async def test_update_or_create_creates(update_or_create, tenant_id) -> None:
    user, created = await update_or_create(tenant_id, "alan", "Alan Turing")
    assert created is True
    assert (user.name, user.full_name, user.version) == ("alan", "Alan Turing", 1)


async def test_update_or_create_updates_and_bumps_the_version(update_or_create, by_name, clock,
                                                              tenant_id) -> None:
    first, _ = await update_or_create(tenant_id, "alan", "Alan")
    clock.advance(60)
    second, created = await update_or_create(tenant_id, "alan", "Alan Turing")
    assert created is False
    assert (second.id, second.full_name, second.version) == (first.id, "Alan Turing", 2)
    assert second.created_at == first.created_at
    assert second.updated_at == clock.now() != first.updated_at
    assert await by_name(tenant_id, "alan") == second


async def test_update_or_create_with_the_same_full_name_changes_nothing(
        update_or_create, by_name, clock, tenant_id) -> None:
    first, _ = await update_or_create(tenant_id, "alan", "Alan Turing")
    clock.advance(60)
    same, created = await update_or_create(tenant_id, "alan", "Alan Turing")
    assert created is False
    assert same == first
    assert (same.version, same.updated_at) == (1, first.updated_at)
    assert await by_name(tenant_id, "alan") == first


async def test_update_or_create_validates(update_or_create, tenant_id) -> None:
    with pytest.raises(InvalidInput):
        await update_or_create(tenant_id, "x" * 201, "")
    with pytest.raises(InvalidInput):
        await update_or_create(tenant_id, "ok", "\ud800")


async def test_concurrent_update_or_create_creates_once_and_applies_every_change(
        update_or_create, users, tenant_id) -> None:
    results = await asyncio.gather(*(update_or_create(tenant_id, "race", f"n{i}")
                                     for i in range(20)))
    assert sum(created for _, created in results) == 1
    assert len({user.id for user, _ in results}) == 1
    (stored,) = (await users.list(tenant_id, after=None, limit=50)).items
    assert stored.version == 20
    assert stored.full_name in {f"n{i}" for i in range(20)}
