"""UnitOfWork and OperatorUnitOfWork: atomicity and tenant scoping, on every adapter."""

import pytest

from adapters.clock import SystemClock
from domain.errors import NotFound
from domain.ids import new_id
from domain.model import BOOKS, CITIES, USERS, ApiKey, Tenant
from domain.ports import CityReader
from domain.use_cases.users import UpdateOrCreateUser
from tests.contract.conftest import UowFactories
from tests.contract.helpers import book, city, user, utcnow

RESOURCES = {"books": BOOKS, "cities": CITIES, "users": USERS}


async def test_leaving_without_commit_rolls_back(uow_factories: UowFactories,
                                                 tenant: Tenant) -> None:
    record = book(tenant.id)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(BOOKS).add(record)
        # visible inside its own transaction
        assert await uow.records(BOOKS).get(record.id) == record
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).get(record.id) is None
        assert list(await uow.records(BOOKS).list(after=None, limit=10)) == []


async def test_an_error_inside_rolls_back_and_propagates(uow_factories: UowFactories,
                                                         tenant: Tenant) -> None:
    record = city(tenant.id)
    with pytest.raises(RuntimeError, match="boom"):
        async with uow_factories.tenant(tenant.id) as uow:
            await uow.records(CITIES).add(record)
            raise RuntimeError("boom")
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(CITIES).get(record.id) is None


async def test_commit_persists_every_change_of_the_unit(uow_factories: UowFactories,
                                                        tenant: Tenant) -> None:
    b, c, u = book(tenant.id), city(tenant.id), user(tenant.id)
    async with uow_factories.tenant(tenant.id) as uow:
        assert uow.tenant_id == tenant.id
        await uow.records(BOOKS).add(b)
        await uow.records(CITIES).add(c)
        await uow.users.add(u)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert (await uow.records(BOOKS).get(b.id), await uow.records(CITIES).get(c.id),
                await uow.users.get(u.id)) == (b, c, u)


async def test_changes_after_a_commit_need_their_own_commit(uow_factories: UowFactories,
                                                            tenant: Tenant) -> None:
    first, second = book(tenant.id, name="first"), book(tenant.id, name="second")
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(BOOKS).add(first)
        await uow.commit()
        await uow.records(BOOKS).add(second)
    async with uow_factories.tenant(tenant.id) as uow:
        assert [b.id for b in await uow.records(BOOKS).list(after=None, limit=10)] == [first.id]


async def test_rolled_back_update_and_delete_leave_the_record(uow_factories: UowFactories,
                                                              tenant: Tenant) -> None:
    record = book(tenant.id)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(BOOKS).add(record)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).save(record.changed({"name": "X"}, utcnow()),
                                             expected_version=record.version) is True
        assert (await uow.records(BOOKS).get(record.id)).name == "X"
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).delete(record.id, expected_version=None)
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).get(record.id) == record


async def test_operator_unit_rolls_back_without_commit(uow_factories: UowFactories) -> None:
    tenant = Tenant.create(f"rollback-{new_id().hex}", "Never", utcnow())
    async with uow_factories.operator() as uow:
        await uow.tenants.add(tenant)
        assert await uow.tenants.get(tenant.id) == tenant
    async with uow_factories.operator() as uow:
        assert await uow.tenants.get(tenant.id) is None
        assert await uow.tenants.get_by_slug(tenant.slug) is None


@pytest.mark.parametrize("collection", ["books", "cities", "users"])
async def test_another_tenants_ids_are_invisible(uow_factories: UowFactories, tenant: Tenant,
                                                 other_tenant: Tenant, collection: str) -> None:
    make = {"books": book, "cities": city, "users": user}[collection]
    mine, theirs = make(tenant.id), make(other_tenant.id)  # same unique name in both tenants
    for owner, record in ((tenant, mine), (other_tenant, theirs)):
        async with uow_factories.tenant(owner.id) as uow:
            await uow.records(RESOURCES[collection]).add(record)
            await uow.commit()
    field = next(iter(mine.fields()))
    async with uow_factories.tenant(tenant.id) as uow:
        repo = uow.records(RESOURCES[collection])
        assert await repo.get(theirs.id) is None
        assert await repo.get(theirs.id, for_update=True) is None
        assert [r.id for r in await repo.list(after=None, limit=100)] == [mine.id]
        # theirs is stored at version 1: only the tenant scope can refuse this save
        assert await repo.save(theirs.changed({field: "changed"}, utcnow()),
                               expected_version=theirs.version) is False
        assert await repo.delete(theirs.id, expected_version=None) is False
        assert await repo.delete(theirs.id, expected_version=1) is False
        await uow.commit()
    async with uow_factories.tenant(other_tenant.id) as uow:
        repo = uow.records(RESOURCES[collection])
        assert await repo.get(theirs.id) == theirs
        assert await repo.get(mine.id) is None
        assert [r.id for r in await repo.list(after=None, limit=100)] == [theirs.id]


async def test_by_name_lookups_and_biggest_are_scoped(uow_factories: UowFactories,
                                                      city_reader: CityReader,
                                                      tenant: Tenant,
                                                      other_tenant: Tenant) -> None:
    async with uow_factories.tenant(other_tenant.id) as uow:
        await uow.users.add(user(other_tenant.id, "only-theirs"))
        await uow.records(CITIES).add(city(other_tenant.id, "Theirs", 10**12))
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(CITIES).add(city(tenant.id, "Mine", 1))
        assert await uow.users.get_by_name("only-theirs") is None
        created, was_new = await uow.users.get_or_add(user(tenant.id, "only-theirs"))
        assert was_new and created.tenant_id == tenant.id
        await uow.commit()
    assert [c.name for c in await city_reader.biggest(tenant.id, 10)] == ["Mine"]


async def test_writes_for_a_missing_tenant_are_not_found(uow_factories: UowFactories) -> None:
    """A tenant deleted while a caller still holds its (cached) key cannot gain records."""
    ghost = Tenant.create(f"ghost-{new_id().hex}", "Deleted", utcnow())
    for resource, make in ((BOOKS, book), (CITIES, city), (USERS, user)):
        with pytest.raises(NotFound) as excinfo:
            async with uow_factories.tenant(ghost.id) as uow:
                await uow.records(resource).add(make(ghost.id))
                await uow.commit()
        assert (excinfo.value.kind, excinfo.value.key) == ("tenant", ghost.id)
        assert str(excinfo.value) == f"tenant {ghost.id} was not found"
    with pytest.raises(NotFound) as got:
        async with uow_factories.tenant(ghost.id) as uow:
            await uow.users.get_or_add(user(ghost.id))
            await uow.commit()
    assert (got.value.kind, got.value.key) == ("tenant", ghost.id)
    with pytest.raises(NotFound) as upserted:
        await UpdateOrCreateUser(uow_factories.tenant, SystemClock())(ghost.id, "ada", "Ada")
    assert (upserted.value.kind, upserted.value.key) == ("tenant", ghost.id)
    with pytest.raises(NotFound) as keyed:
        async with uow_factories.operator() as uow:
            await uow.api_keys.add(ApiKey(id=new_id(), tenant_id=ghost.id, secret_hash="0" * 64,
                                          created_at=utcnow()))
            await uow.commit()
    assert (keyed.value.kind, keyed.value.key) == ("tenant", ghost.id)
    async with uow_factories.tenant(ghost.id) as uow:
        assert list(await uow.records(BOOKS).list(after=None, limit=10)) == []
        assert list(await uow.users.list(after=None, limit=10)) == []
