"""UnitOfWork and OperatorUnitOfWork: atomicity and tenant scoping, on every adapter."""

import pytest

from domain.errors import NotFound
from domain.ids import new_id
from domain.model import ApiKey, Tenant
from tests.contract.conftest import UowFactories
from tests.contract.helpers import book, city, user, utcnow


async def test_leaving_without_commit_rolls_back(uow_factories: UowFactories,
                                                 tenant: Tenant) -> None:
    record = book(tenant.id)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.books.add(record)
        assert await uow.books.get(record.id) == record  # visible inside its own transaction
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.get(record.id) is None
        assert list(await uow.books.list(after=None, limit=10)) == []


async def test_an_error_inside_rolls_back_and_propagates(uow_factories: UowFactories,
                                                         tenant: Tenant) -> None:
    record = city(tenant.id)
    with pytest.raises(RuntimeError, match="boom"):
        async with uow_factories.tenant(tenant.id) as uow:
            await uow.cities.add(record)
            raise RuntimeError("boom")
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.cities.get(record.id) is None


async def test_commit_persists_every_change_of_the_unit(uow_factories: UowFactories,
                                                        tenant: Tenant) -> None:
    b, c, u = book(tenant.id), city(tenant.id), user(tenant.id)
    async with uow_factories.tenant(tenant.id) as uow:
        assert uow.tenant_id == tenant.id
        await uow.books.add(b)
        await uow.cities.add(c)
        await uow.users.add(u)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert (await uow.books.get(b.id), await uow.cities.get(c.id),
                await uow.users.get(u.id)) == (b, c, u)


async def test_changes_after_a_commit_need_their_own_commit(uow_factories: UowFactories,
                                                            tenant: Tenant) -> None:
    first, second = book(tenant.id, name="first"), book(tenant.id, name="second")
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.books.add(first)
        await uow.commit()
        await uow.books.add(second)
    async with uow_factories.tenant(tenant.id) as uow:
        assert [b.id for b in await uow.books.list(after=None, limit=10)] == [first.id]


async def test_rolled_back_update_and_delete_leave_the_record(uow_factories: UowFactories,
                                                              tenant: Tenant) -> None:
    record = book(tenant.id)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.books.add(record)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.update(record.id, {"name": "X"}, now=utcnow(),
                                      expected_version=None) is not None
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.delete(record.id, expected_version=None)
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.get(record.id) == record


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
            await getattr(uow, collection).add(record)
            await uow.commit()
    field = next(iter(mine.fields()))
    async with uow_factories.tenant(tenant.id) as uow:
        repo = getattr(uow, collection)
        assert await repo.get(theirs.id) is None
        assert [r.id for r in await repo.list(after=None, limit=100)] == [mine.id]
        assert await repo.update(theirs.id, {field: "changed"}, now=utcnow(),
                                 expected_version=None) is None
        assert await repo.update(theirs.id, {field: "changed"}, now=utcnow(),
                                 expected_version=1) is None
        assert await repo.delete(theirs.id, expected_version=None) is False
        assert await repo.delete(theirs.id, expected_version=1) is False
        await uow.commit()
    async with uow_factories.tenant(other_tenant.id) as uow:
        repo = getattr(uow, collection)
        assert await repo.get(theirs.id) == theirs
        assert await repo.get(mine.id) is None
        assert [r.id for r in await repo.list(after=None, limit=100)] == [theirs.id]


async def test_by_name_lookups_and_biggest_are_scoped(uow_factories: UowFactories,
                                                      tenant: Tenant,
                                                      other_tenant: Tenant) -> None:
    async with uow_factories.tenant(other_tenant.id) as uow:
        await uow.users.add(user(other_tenant.id, "only-theirs"))
        await uow.cities.add(city(other_tenant.id, "Theirs", 10**12))
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.cities.add(city(tenant.id, "Mine", 1))
        assert await uow.users.get_by_name("only-theirs") is None
        assert [c.name for c in await uow.cities.biggest(10)] == ["Mine"]
        created, was_new = await uow.users.get_or_add(user(tenant.id, "only-theirs"))
        assert was_new and created.tenant_id == tenant.id
        await uow.commit()


async def test_writes_for_a_missing_tenant_are_not_found(uow_factories: UowFactories) -> None:
    """A tenant deleted while a caller still holds its (cached) key cannot gain records."""
    ghost = Tenant.create(f"ghost-{new_id().hex}", "Deleted", utcnow())
    for collection, make in (("books", book), ("cities", city), ("users", user)):
        with pytest.raises(NotFound) as excinfo:
            async with uow_factories.tenant(ghost.id) as uow:
                await getattr(uow, collection).add(make(ghost.id))
                await uow.commit()
        assert excinfo.value.kind == "tenant"
    with pytest.raises(NotFound):
        async with uow_factories.tenant(ghost.id) as uow:
            await uow.users.get_or_add(user(ghost.id))
            await uow.commit()
    with pytest.raises(NotFound):
        async with uow_factories.tenant(ghost.id) as uow:
            await uow.users.upsert_full_name(user(ghost.id), now=utcnow())
            await uow.commit()
    with pytest.raises(NotFound):
        async with uow_factories.operator() as uow:
            await uow.api_keys.add(ApiKey(id=new_id(), tenant_id=ghost.id, secret_hash="0" * 64,
                                          created_at=utcnow()))
            await uow.commit()
    async with uow_factories.tenant(ghost.id) as uow:
        assert list(await uow.books.list(after=None, limit=10)) == []
        assert list(await uow.users.list(after=None, limit=10)) == []
