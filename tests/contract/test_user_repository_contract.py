"""UserRepository: unique names, by-name lookups, race-free get-or-add and upsert."""

import asyncio
from datetime import timedelta

import pytest

from domain.errors import AlreadyExists
from domain.model import Tenant, User
from tests.contract.conftest import UowFactories
from tests.contract.helpers import assert_plain, assert_utc, user, utcnow
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
            await uow.users.update(bob.id, {"name": "ada"}, now=utcnow(), expected_version=1)
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


async def test_upsert_full_name_creates_updates_and_leaves_an_unchanged_user_alone(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    original = user(tenant.id, "alan", "Alan")
    async with uow_factories.tenant(tenant.id) as uow:
        created_user, created = await uow.users.upsert_full_name(original, now=utcnow())
        await uow.commit()
    assert created is True and created_user == original

    later = original.created_at + timedelta(seconds=30)
    async with uow_factories.tenant(tenant.id) as uow:
        updated, created = await uow.users.upsert_full_name(
            user(tenant.id, "alan", "Alan Turing"), now=later)
        await uow.commit()
    assert created is False
    assert updated == original.changed({"full_name": "Alan Turing"}, later)
    assert_utc(updated.updated_at)
    assert_plain(updated)

    async with uow_factories.tenant(tenant.id) as uow:
        same, created = await uow.users.upsert_full_name(
            user(tenant.id, "alan", "Alan Turing"), now=later + timedelta(seconds=30))
        await uow.commit()
    assert created is False and same == updated and same.version == 2
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.users.get_by_name("alan") == updated


async def _race(uow_factories: UowFactories, tenant: Tenant, operation: str,
                full_names: list[str]) -> list[tuple[User, bool]]:
    async def one(full_name: str) -> tuple[User, bool]:
        async with uow_factories.tenant(tenant.id) as uow:
            candidate = user(tenant.id, "contested", full_name)
            if operation == "get_or_add":
                result = await uow.users.get_or_add(candidate)
            else:
                result = await uow.users.upsert_full_name(candidate, now=utcnow())
            await uow.commit()
        return result

    return await asyncio.gather(*(one(name) for name in full_names))


@pytest.mark.parametrize("operation", ["get_or_add", "upsert_full_name"])
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


async def test_concurrent_upserts_create_once_and_apply_every_change(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    names = [f"name {i}" for i in range(CALLERS)]
    results = await _race(uow_factories, tenant, "upsert_full_name", names)
    assert sum(created for _, created in results) == 1
    assert len({u.id for u, _ in results}) == 1
    assert sorted(u.version for u, _ in results) == list(range(1, CALLERS + 1))
    async with uow_factories.tenant(tenant.id) as uow:
        stored = await uow.users.get_by_name("contested")
    assert stored is not None and stored.version == CALLERS
    assert stored.full_name in names
