"""UserRepository: unique names, by-name lookups, race-free get-or-add; and update-or-create
(the use case built on get_or_add, changed and save) on every adapter."""

import asyncio

import pytest

from adapters.clock import SystemClock
from domain.errors import AlreadyExists
from domain.model import Tenant, User
from domain.use_cases.users import UpdateOrCreateUser
from tests.contract.conftest import UowFactories
from tests.contract.helpers import SteppingClock, assert_plain, assert_utc, user, utcnow
from tests.contract.test_city_repository_contract import assert_translated

CALLERS = 20


async def test_a_taken_name_on_add_is_already_exists(uow_factories: UowFactories,
                                                     tenant: Tenant) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.users.add(user(tenant.id, "ada"))
        await uow.commit()
    with pytest.raises(AlreadyExists) as excinfo:
        async with uow_factories.tenant(tenant.id) as uow:
            await uow.users.add(user(tenant.id, "ada", "Someone Else"))
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("user", "name", "ada")
    assert_translated(uow_factories, error, "uq_users_tenant_id_name")


async def test_a_taken_name_on_update_is_already_exists(uow_factories: UowFactories,
                                                        tenant: Tenant) -> None:
    ada, bob = user(tenant.id, "ada"), user(tenant.id, "bob")
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.users.add(ada)
        await uow.users.add(bob)
        await uow.commit()
    with pytest.raises(AlreadyExists) as excinfo:
        async with uow_factories.tenant(tenant.id) as uow:
            current = await uow.users.get(bob.id, for_update=True)
            assert current == bob
            await uow.users.save(current.changed({"name": "ada"}, utcnow()), expected_version=1)
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("user", "name", "ada")
    assert_translated(uow_factories, error, "uq_users_tenant_id_name")
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.users.get(bob.id) == bob


async def test_get_by_name(uow_factories: UowFactories, tenant: Tenant) -> None:
    ada = user(tenant.id, "ada")
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.users.add(ada)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.users.get_by_name("ada") == ada
        assert await uow.users.get_by_name("Ada") is None
        assert await uow.users.get_by_name("ad") is None
        assert await uow.users.get_by_name("ada%") is None


async def test_get_or_add_adds_a_new_name_and_returns_an_existing_one_unchanged(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    first = user(tenant.id, "grace", "Grace Hopper")
    async with uow_factories.tenant(tenant.id) as uow:
        stored, created = await uow.users.get_or_add(first)
        await uow.commit()
    assert created is True and stored == first
    assert_utc(stored.created_at)
    assert_plain(stored)
    async with uow_factories.tenant(tenant.id) as uow:
        again, created = await uow.users.get_or_add(user(tenant.id, "grace", "Other"))
        await uow.commit()
    assert created is False and again == first
    assert_plain(again)
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.users.get_by_name("grace") == first


async def test_update_or_create_creates_updates_and_leaves_an_unchanged_user_alone(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    clock = SteppingClock()
    update_or_create = UpdateOrCreateUser(uow_factories.tenant, clock)
    start = clock.now()
    created_user, created = await update_or_create(tenant.id, "alan", "Alan")
    assert created is True
    assert (created_user.tenant_id, created_user.name, created_user.full_name,
            created_user.version) == (tenant.id, "alan", "Alan", 1)
    assert created_user.created_at == created_user.updated_at == start
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.users.get_by_name("alan") == created_user

    clock.advance(30)
    later = clock.now()
    updated, created = await update_or_create(tenant.id, "alan", "Alan Turing")
    assert created is False
    assert updated == created_user.changed({"full_name": "Alan Turing"}, later)
    assert updated.version == 2 and updated.created_at == start
    assert_utc(updated.updated_at)
    assert_plain(updated)
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.users.get_by_name("alan") == updated

    clock.advance(30)
    same, created = await update_or_create(tenant.id, "alan", "Alan Turing")
    assert created is False and same == updated and same.version == 2
    assert same.updated_at == later
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.users.get_by_name("alan") == updated
        assert [u.id for u in await uow.users.list(after=None, limit=10)] == [updated.id]


async def _race(uow_factories: UowFactories, tenant: Tenant, operation: str,
                full_names: list[str]) -> list[tuple[User, bool]]:
    update_or_create = UpdateOrCreateUser(uow_factories.tenant, SystemClock())

    async def one(full_name: str) -> tuple[User, bool]:
        if operation == "update_or_create":
            return await update_or_create(tenant.id, "contested", full_name)
        async with uow_factories.tenant(tenant.id) as uow:
            result = await uow.users.get_or_add(user(tenant.id, "contested", full_name))
            await uow.commit()
        return result

    return await asyncio.gather(*(one(name) for name in full_names))


@pytest.mark.parametrize("operation", ["get_or_add", "update_or_create"])
async def test_concurrent_callers_of_one_new_name_make_exactly_one_user(
        uow_factories: UowFactories, tenant: Tenant, operation: str) -> None:
    results = await _race(uow_factories, tenant, operation, ["Same Name"] * CALLERS)
    assert sum(created for _, created in results) == 1
    assert len({u.id for u, _ in results}) == 1
    for u, _ in results:
        assert_plain(u)
    assert {(u.name, u.full_name, u.version) for u, _ in results} == {
        ("contested", "Same Name", 1)}
    async with uow_factories.tenant(tenant.id) as uow:
        (stored,) = await uow.users.list(after=None, limit=50)
    assert stored.id == results[0][0].id


async def test_concurrent_get_or_add_keeps_the_first_full_name(uow_factories: UowFactories,
                                                               tenant: Tenant) -> None:
    results = await _race(uow_factories, tenant, "get_or_add",
                          [f"name {i}" for i in range(CALLERS)])
    (winner,) = [u for u, created in results if created]
    assert all(u == winner for u, _ in results)


async def test_concurrent_update_or_create_creates_once_and_applies_every_change(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    names = [f"name {i}" for i in range(CALLERS)]
    results = await _race(uow_factories, tenant, "update_or_create", names)
    assert sum(created for _, created in results) == 1
    assert len({u.id for u, _ in results}) == 1
    assert sorted(u.version for u, _ in results) == list(range(1, CALLERS + 1))
    async with uow_factories.tenant(tenant.id) as uow:
        stored = await uow.users.get_by_name("contested")
    assert stored is not None and stored.version == CALLERS
    assert stored.full_name in names
