"""ApiKeyRepository, KeyEventLog and KeyEventFeed on every adapter: what a key holds, its
pages, its expiry and last use; events seen once each, and only once committed."""

from datetime import timedelta

from domain.ids import new_id
from domain.model import ApiKey, Tenant
from domain.use_cases.key_events import key_changed, tenant_changed
from tests.contract.conftest import UowFactories
from tests.contract.helpers import assert_utc, utcnow


def full_key(tenant: Tenant, **fields: object) -> ApiKey:
    now = utcnow()
    values = {"id": new_id(), "tenant_id": tenant.id, "secret_hash": "cd" * 32,
              "created_at": now, "name": "Ünïcode ✓", "scopes": ("read",),
              "expires_at": now + timedelta(days=1)} | fields
    return ApiKey(**values)  # type: ignore[arg-type]


async def test_a_key_keeps_every_field(uow_factories: UowFactories, tenant: Tenant) -> None:
    keys = [full_key(tenant), full_key(tenant, name="", scopes=("read", "write"),
                                       expires_at=None)]
    async with uow_factories.operator() as uow:
        for key in keys:
            await uow.api_keys.add(key)
        await uow.commit()
    async with uow_factories.operator() as uow:
        stored = [await uow.api_keys.get(tenant.id, key.id) for key in keys]
    assert stored == keys
    assert_utc(stored[0].expires_at)


async def test_list_pages_the_tenants_keys_only_revoked_ones_too(
        uow_factories: UowFactories, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = [full_key(tenant) for _ in range(3)]
    async with uow_factories.operator() as uow:
        for key in [*mine, full_key(other_tenant)]:
            await uow.api_keys.add(key)
        assert await uow.api_keys.revoke(tenant.id, mine[1].id, now=utcnow())
        await uow.commit()
    async with uow_factories.operator() as uow:
        first = list(await uow.api_keys.list(tenant.id, after=None, limit=2))
        rest = list(await uow.api_keys.list(tenant.id, after=first[-1].id, limit=2))
    assert [k.id for k in first + rest] == [k.id for k in mine]
    assert first[1].revoked_at is not None


async def test_expire_and_touch(uow_factories: UowFactories, tenant: Tenant,
                                other_tenant: Tenant) -> None:
    key, now = full_key(tenant, expires_at=None), utcnow()
    async with uow_factories.operator() as uow:
        await uow.api_keys.add(key)
        await uow.api_keys.expire(tenant.id, key.id, at=now + timedelta(hours=1))
        await uow.api_keys.touch(tenant.id, key.id, at=now, unless_since=now - timedelta(minutes=1))
        await uow.api_keys.touch(other_tenant.id, key.id, at=now + timedelta(hours=5),
                                 unless_since=now)  # someone else's: nothing
        await uow.commit()
    async with uow_factories.operator() as uow:
        await uow.api_keys.touch(tenant.id, key.id, at=now + timedelta(seconds=30),
                                 unless_since=now - timedelta(seconds=30))  # too soon: kept
        await uow.commit()
        stored = await uow.api_keys.get(tenant.id, key.id)
    assert (stored.expires_at, stored.last_used_at) == (now + timedelta(hours=1), now)
    async with uow_factories.operator() as uow:
        await uow.api_keys.touch(tenant.id, key.id, at=now + timedelta(seconds=61),
                                 unless_since=now + timedelta(seconds=1))
        await uow.commit()
        assert (await uow.api_keys.get(tenant.id, key.id)).last_used_at == \
            now + timedelta(seconds=61)


async def test_the_feed_returns_each_committed_event_once(uow_factories: UowFactories,
                                                          tenant: Tenant) -> None:
    feed = uow_factories.key_event_feed()
    await feed.poll()  # whatever other tests left
    revoked, deleted, abandoned = (key_changed(tenant.id, new_id()), tenant_changed(tenant.id),
                                   key_changed(tenant.id, new_id()))
    async with uow_factories.operator() as uow:
        await uow.key_events.publish(revoked)
        await uow.key_events.publish(deleted)
        await uow.commit()
    async with uow_factories.operator() as uow:
        await uow.key_events.publish(abandoned)  # rolled back
    seen = [e for e in await feed.poll() if e.tenant_id == tenant.id]
    assert seen == [revoked, deleted]
    assert [e for e in await feed.poll() if e.tenant_id == tenant.id] == []
    assert revoked in await uow_factories.key_event_feed().poll()  # another instance's feed


async def test_prune_deletes_only_old_events(uow_factories: UowFactories, tenant: Tenant) -> None:
    event = key_changed(tenant.id, new_id())
    async with uow_factories.operator() as uow:
        await uow.key_events.publish(event)
        await uow.commit()
    feed = uow_factories.key_event_feed()
    await feed.prune(utcnow() - timedelta(hours=1))
    assert event in await feed.poll()
    assert await feed.prune(utcnow() + timedelta(seconds=1)) >= 1
    assert event not in await uow_factories.key_event_feed().poll()
