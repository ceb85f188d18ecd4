"""TenantRepository and ApiKeyRepository: the operator's registry, keys, cascading delete."""

from datetime import timedelta

import pytest

from domain.errors import AlreadyExists
from domain.ids import new_id
from domain.model import BOOKS, CITIES, ApiKey, Tenant
from domain.tenancy import TenantId
from tests.contract.conftest import UowFactories
from tests.contract.helpers import assert_plain, assert_utc, book, city, user, utcnow
from tests.contract.test_city_repository_contract import assert_translated


def api_key(tenant_id: TenantId) -> ApiKey:
    return ApiKey(id=new_id(), tenant_id=tenant_id, secret_hash="ab" * 32, created_at=utcnow())


async def test_add_get_and_get_by_slug(uow_factories: UowFactories) -> None:
    tenant = Tenant.create(f"t-{new_id().hex}", "Ünïcode name ✓", utcnow())
    async with uow_factories.operator() as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    async with uow_factories.operator() as uow:
        assert await uow.tenants.get(tenant.id) == tenant
        assert await uow.tenants.get_by_slug(tenant.slug) == tenant
        assert await uow.tenants.get(TenantId(new_id())) is None
        assert await uow.tenants.get_by_slug("no-such-slug") is None
        stored = await uow.tenants.get(tenant.id)
    assert_utc(stored.created_at)
    assert_plain(stored)


async def test_a_taken_slug_is_already_exists(uow_factories: UowFactories,
                                              tenant: Tenant) -> None:
    twin = Tenant.create(tenant.slug, "Twin", utcnow())
    with pytest.raises(AlreadyExists) as excinfo:
        async with uow_factories.operator() as uow:
            await uow.tenants.add(twin)
            await uow.commit()
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("tenant", "slug", tenant.slug)
    assert_translated(uow_factories, error, "uq_tenants_slug")
    async with uow_factories.operator() as uow:
        assert await uow.tenants.get(twin.id) is None


async def test_list_pages_in_creation_order(uow_factories: UowFactories) -> None:
    start = new_id()
    created = [await uow_factories.new_tenant() for _ in range(3)]
    async with uow_factories.operator() as uow:
        first = list(await uow.tenants.list(after=start, limit=2))
        second = list(await uow.tenants.list(after=first[-1].id, limit=2))
        everyone = list(await uow.tenants.list(after=None, limit=10_000))
    assert first == created[:2]
    assert second[0] == created[2]
    assert [t.id for t in everyone] == sorted(t.id for t in everyone)
    assert all(t in everyone for t in created)
    for t in first + second:
        assert_plain(t)


async def test_delete_cascades_to_every_record_and_key(uow_factories: UowFactories,
                                                       tenant: Tenant,
                                                       other_tenant: Tenant) -> None:
    owned = {}
    for owner in (tenant, other_tenant):
        b, c, u, k = book(owner.id), city(owner.id), user(owner.id), api_key(owner.id)
        async with uow_factories.tenant(owner.id) as uow:
            await uow.records(BOOKS).add(b)
            await uow.records(CITIES).add(c)
            await uow.users.add(u)
            await uow.commit()
        async with uow_factories.operator() as uow:
            await uow.api_keys.add(k)
            await uow.commit()
        owned[owner.id] = (b, c, u, k)

    async with uow_factories.operator() as uow:
        assert await uow.tenants.delete(tenant.id) is True
        await uow.commit()

    async with uow_factories.operator() as uow:
        assert await uow.tenants.get(tenant.id) is None
        assert await uow.tenants.get_by_slug(tenant.slug) is None
        assert await uow.tenants.delete(tenant.id) is False
        assert await uow.api_keys.get(tenant.id, owned[tenant.id][3].id) is None
        assert await uow.api_keys.get(other_tenant.id, owned[other_tenant.id][3].id) is not None
    async with uow_factories.tenant(tenant.id) as uow:
        b, c, u, _ = owned[tenant.id]
        assert (await uow.records(BOOKS).get(b.id), await uow.records(CITIES).get(c.id),
                await uow.users.get(u.id)) == (None, None, None)
        assert list(await uow.records(BOOKS).list(after=None, limit=10)) == []
        assert list(await uow.records(CITIES).list(after=None, limit=10)) == []
        assert list(await uow.users.list(after=None, limit=10)) == []
        assert await uow.users.get_by_name(u.name) is None
    async with uow_factories.tenant(other_tenant.id) as uow:
        b, c, u, _ = owned[other_tenant.id]
        assert (await uow.records(BOOKS).get(b.id), await uow.records(CITIES).get(c.id),
                await uow.users.get(u.id)) == (b, c, u)


async def test_delete_without_commit_keeps_everything(uow_factories: UowFactories,
                                                      tenant: Tenant) -> None:
    record = book(tenant.id)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.records(BOOKS).add(record)
        await uow.commit()
    async with uow_factories.operator() as uow:
        assert await uow.tenants.delete(tenant.id) is True
    async with uow_factories.operator() as uow:
        assert await uow.tenants.get(tenant.id) == tenant
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).get(record.id) == record


async def test_api_key_add_and_get_within_its_tenant_only(uow_factories: UowFactories,
                                                          tenant: Tenant,
                                                          other_tenant: Tenant) -> None:
    key = api_key(tenant.id)
    async with uow_factories.operator() as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    async with uow_factories.operator() as uow:
        stored = await uow.api_keys.get(tenant.id, key.id)
        assert await uow.api_keys.get(other_tenant.id, key.id) is None
        assert await uow.api_keys.get(tenant.id, new_id()) is None
    assert stored == key
    assert stored.revoked_at is None
    assert_utc(stored.created_at)
    assert_plain(stored)


async def test_api_key_revoke(uow_factories: UowFactories, tenant: Tenant,
                              other_tenant: Tenant) -> None:
    key = api_key(tenant.id)
    async with uow_factories.operator() as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    when = key.created_at + timedelta(hours=1)
    async with uow_factories.operator() as uow:
        assert await uow.api_keys.revoke(other_tenant.id, key.id, now=when) is False
        assert await uow.api_keys.revoke(tenant.id, new_id(), now=when) is False
        assert await uow.api_keys.revoke(tenant.id, key.id, now=when) is True
        assert await uow.api_keys.revoke(tenant.id, key.id, now=when) is False
        await uow.commit()
    async with uow_factories.operator() as uow:
        stored = await uow.api_keys.get(tenant.id, key.id)
    assert stored is not None and stored.revoked_at == when
    assert_utc(stored.revoked_at)
    assert (stored.secret_hash, stored.created_at) == (key.secret_hash, key.created_at)


async def test_api_key_revoke_without_commit_is_undone(uow_factories: UowFactories,
                                                       tenant: Tenant) -> None:
    key = api_key(tenant.id)
    async with uow_factories.operator() as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    async with uow_factories.operator() as uow:
        assert await uow.api_keys.revoke(tenant.id, key.id, now=utcnow()) is True
    async with uow_factories.operator() as uow:
        assert (await uow.api_keys.get(tenant.id, key.id)).revoked_at is None


async def test_a_tenants_own_rate_limit_is_kept_updated_and_read_with_its_keys(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    """What UpdateTenant does on every adapter: the "tenant changed" event first, then the
    update, in one transaction; the key lookup reads the tenant's limit with the key."""
    from dataclasses import replace

    from domain.model import RateLimit
    from domain.use_cases.key_events import tenant_changed

    limited = replace(Tenant.create(f"t-{new_id().hex}", "Limited", utcnow()),
                      rate_limit=RateLimit(0.5, 3))
    key = api_key(limited.id)
    async with uow_factories.operator() as uow:
        await uow.tenants.add(limited)
        await uow.api_keys.add(key)
        await uow.commit()
    feed = uow_factories.key_event_feed()
    await feed.poll()
    reader = uow_factories.key_reader()
    assert await reader.credentials(limited.id, key.id) == (key, RateLimit(0.5, 3))

    event = tenant_changed(limited.id)
    changed = replace(limited, name="Renamed", rate_limit=RateLimit(100_000.0, 100_000))
    async with uow_factories.operator() as uow:
        await uow.key_events.publish(event)
        assert await uow.tenants.update(changed)
        await uow.commit()
    async with uow_factories.operator() as uow:
        assert await uow.tenants.get(limited.id) == changed
        assert await uow.tenants.get(tenant.id) == tenant  # no other tenant changed
        assert not await uow.tenants.update(replace(changed, id=TenantId(new_id())))
    assert [(e.id, e.kind, e.tenant_id) for e in await feed.poll()] == [
        (event.id, "tenant", limited.id)]
    assert await reader.credentials(limited.id, key.id) == (key, RateLimit(100_000.0, 100_000))

    async with uow_factories.operator() as uow:
        assert await uow.tenants.update(replace(changed, rate_limit=None))
        await uow.commit()
    assert await reader.credentials(limited.id, key.id) == (key, None)
