"""Tenants, API keys and authentication, on the in-memory adapters and the real hasher."""

from dataclasses import dataclass

import pytest

from adapters.security.cache import TtlCredentialCache
from domain.errors import AlreadyExists, InvalidCredentials, InvalidInput, NotFound
from domain.ids import new_id
from domain.model import IssuedKey, Principal, RateLimit, Tenant
from domain.tenancy import TenantId
from domain.tokens import format_token, parse_token
from adapters.memory import InMemoryApiKeyReader, MemoryKeyEventFeed
from domain.use_cases.api_keys import Authenticate, IssueApiKey, RevokeApiKey
from domain.use_cases.key_events import FollowKeyEvents
from domain.use_cases.tenants import (CreateTenant, DeleteTenant, GetTenant, ListTenants,
                                      UpdateTenant)


@dataclass
class Operator:
    create: CreateTenant
    get: GetTenant
    list: ListTenants
    delete: DeleteTenant
    issue: IssueApiKey
    revoke: RevokeApiKey
    authenticate: Authenticate


def wire(operator_uow, clock, hasher, cache, keys: InMemoryApiKeyReader) -> Operator:
    args = (operator_uow, clock, hasher, cache)
    return Operator(CreateTenant(*args), GetTenant(*args), ListTenants(*args),
                    DeleteTenant(*args), IssueApiKey(*args), RevokeApiKey(*args),
                    Authenticate(*args, keys=keys))


@pytest.fixture
def ops(operator_uow, clock, hasher, cache, key_reader) -> Operator:
    return wire(operator_uow, clock, hasher, cache, key_reader)


async def test_create_tenant_returns_the_tenant_and_a_first_key_that_works(ops, clock) -> None:
    tenant, key = await ops.create("acme", "Acme Inc.")
    assert isinstance(tenant, Tenant) and isinstance(key, IssuedKey)
    assert (tenant.slug, tenant.name, tenant.created_at) == ("acme", "Acme Inc.", clock.now())
    assert key.tenant_id == tenant.id and key.created_at == clock.now()
    token_tenant, token_key, secret = parse_token(key.token)
    assert (token_tenant, token_key) == (tenant.id, key.id) and len(secret) >= 43
    assert (await ops.authenticate(key.token)).tenant_id == tenant.id


async def test_create_tenant_name_defaults_to_the_slug(ops) -> None:
    tenant, _ = await ops.create("plain-slug")
    assert tenant.name == "plain-slug"


async def test_only_the_hash_of_the_secret_is_stored(ops, store, hasher) -> None:
    _, key = await ops.create("acme")
    secret = parse_token(key.token)[2]
    (stored,) = store.tables["api_keys"].values()
    assert stored.secret_hash == hasher.hash(secret) != secret
    assert secret not in repr(store.tables)


async def test_create_tenant_with_a_taken_slug_is_already_exists(ops, store) -> None:
    await ops.create("acme")
    with pytest.raises(AlreadyExists) as excinfo:
        await ops.create("acme", "Other")
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("tenant", "slug", "acme")
    assert len(store.tables["tenants"]) == 1 and len(store.tables["api_keys"]) == 1


async def test_create_tenant_validates(ops, store) -> None:
    with pytest.raises(InvalidInput):
        await ops.create("-bad-")
    with pytest.raises(InvalidInput):
        await ops.create("good", "")
    assert store.tables["tenants"] == {}


async def test_get_tenant_by_id_or_slug(ops) -> None:
    tenant, _ = await ops.create("acme")
    assert await ops.get(tenant.id) == tenant
    assert await ops.get(slug="acme") == tenant
    with pytest.raises(NotFound):
        await ops.get(TenantId(new_id()))
    with pytest.raises(NotFound):
        await ops.get(slug="nope")
    with pytest.raises(NotFound):
        await ops.get()


async def test_list_tenants_in_creation_order_by_pages(ops) -> None:
    created = [(await ops.create(f"tenant-{i}"))[0] for i in range(5)]
    first = await ops.list(after=None, limit=2)
    second = await ops.list(after=first.next_after, limit=2)
    third = await ops.list(after=second.next_after, limit=2)
    assert [*first.items, *second.items, *third.items] == created
    assert third.next_after is None


async def test_issue_api_key_gives_a_second_working_key(ops) -> None:
    tenant, first = await ops.create("acme")
    second = await ops.issue(tenant.id)
    assert second.id != first.id and second.token != first.token
    assert second.tenant_id == tenant.id
    assert (await ops.authenticate(first.token)).tenant_id == tenant.id
    assert (await ops.authenticate(second.token)).tenant_id == tenant.id


async def test_issue_api_key_for_a_missing_tenant_is_not_found(ops, store) -> None:
    with pytest.raises(NotFound):
        await ops.issue(TenantId(new_id()))
    assert store.tables["api_keys"] == {}


async def test_revoked_key_stops_authenticating_at_once_even_when_cached(ops, cache) -> None:
    tenant, key = await ops.create("acme")
    other = await ops.issue(tenant.id)
    assert (await ops.authenticate(key.token)).tenant_id == tenant.id
    assert cache.get(key.token).tenant_id == tenant.id  # now served from the cache
    await ops.revoke(tenant.id, key.id)
    assert cache.get(key.token) is None
    with pytest.raises(InvalidCredentials):
        await ops.authenticate(key.token)
    assert (await ops.authenticate(other.token)).tenant_id == tenant.id


async def test_revocation_reaches_another_instance_through_the_key_event_feed(
        store, operator_uow, clock, hasher, monotonic) -> None:
    here_cache = TtlCredentialCache(ttl=3600, clock=monotonic, stale_after=1.5)
    there_cache = TtlCredentialCache(ttl=3600, clock=monotonic, stale_after=1.5)
    here, there = (wire(operator_uow, clock, hasher, c, InMemoryApiKeyReader(store))
                   for c in (here_cache, there_cache))
    follow = FollowKeyEvents(MemoryKeyEventFeed(store), there_cache, clock)
    await follow()
    tenant, key = await here.create("acme")
    assert (await there.authenticate(key.token)).tenant_id == tenant.id
    assert there_cache.get(key.token) is not None
    await here.revoke(tenant.id, key.id)
    with pytest.raises(InvalidCredentials):
        await here.authenticate(key.token)
    assert there_cache.get(key.token) is not None  # until its next poll
    assert [event.key_id for event in await follow()] == [key.id]
    with pytest.raises(InvalidCredentials):
        await there.authenticate(key.token)
    assert await follow() == []  # each event once


async def test_a_cache_whose_feed_is_late_is_not_trusted(monotonic) -> None:
    cache = TtlCredentialCache(ttl=3600, clock=monotonic, stale_after=1.5)
    principal = Principal(TenantId(new_id()), new_id(), ("read", "write"))
    cache.put("tok", principal, cache.epoch())
    assert cache.get("tok") is None  # never fresh yet
    cache.mark_fresh(cache.stamp())
    assert cache.get("tok") == principal
    monotonic.value += 1.6
    assert cache.get("tok") is None
    cache.mark_fresh(cache.stamp())
    assert cache.get("tok") == principal


async def test_a_lookup_that_raced_a_revocation_caches_nothing(monotonic) -> None:
    cache = TtlCredentialCache(ttl=3600, clock=monotonic)
    principal = Principal(TenantId(new_id()), new_id(), ("read", "write"))
    epoch = cache.epoch()  # the lookup begins, reads the key...
    cache.forget(principal.key_id)  # ...the key is revoked meanwhile...
    cache.put("tok", principal, epoch)  # ...and what it read is not kept
    assert cache.get("tok") is None


async def test_deleting_a_tenant_reaches_other_instances(store, operator_uow, clock, hasher,
                                                         monotonic) -> None:
    there_cache = TtlCredentialCache(ttl=3600, clock=monotonic)
    keys = InMemoryApiKeyReader(store)
    here, there = wire(operator_uow, clock, hasher, TtlCredentialCache(ttl=0), keys), \
        wire(operator_uow, clock, hasher, there_cache, keys)
    follow = FollowKeyEvents(MemoryKeyEventFeed(store), there_cache, clock)
    tenant, key = await here.create("doomed")
    survivor, survivor_key = await here.create("survivor")
    await there.authenticate(key.token)
    await there.authenticate(survivor_key.token)
    await here.delete(tenant.id)
    await follow()
    assert there_cache.get(key.token) is None
    assert there_cache.get(survivor_key.token).tenant_id == survivor.id


async def test_a_tenant_updated_here_reaches_other_instances_with_its_rate_limit(
        store, operator_uow, clock, hasher, monotonic) -> None:
    there_cache = TtlCredentialCache(ttl=3600, clock=monotonic)
    here_cache = TtlCredentialCache(ttl=3600, clock=monotonic)
    keys = InMemoryApiKeyReader(store)
    here, there = wire(operator_uow, clock, hasher, here_cache, keys), \
        wire(operator_uow, clock, hasher, there_cache, keys)
    update = UpdateTenant(operator_uow, clock, hasher, here_cache)
    follow = FollowKeyEvents(MemoryKeyEventFeed(store), there_cache, clock)
    await follow()
    tenant, key = await here.create("acme")
    _, other_key = await here.create("other")
    for ops in (here, there):
        assert (await ops.authenticate(key.token)).rate_limit is None
        await ops.authenticate(other_key.token)
    updated = await update(tenant.id, rate_limit=RateLimit(2.0, 5))
    assert updated.rate_limit == RateLimit(2.0, 5)
    assert here_cache.get(key.token) is None  # at once here
    assert (await here.authenticate(key.token)).rate_limit == RateLimit(2.0, 5)
    assert there_cache.get(key.token).rate_limit is None  # there: until its next poll
    events = await follow()
    assert [(event.kind, event.tenant_id) for event in events] == [("tenant", tenant.id)]
    assert there_cache.get(key.token) is None
    assert there_cache.get(other_key.token) is not None  # only that tenant's keys
    assert (await there.authenticate(key.token)).rate_limit == RateLimit(2.0, 5)


async def test_updating_a_missing_tenant_publishes_nothing(store, operator_uow, clock, hasher,
                                                           monotonic) -> None:
    cache = TtlCredentialCache(ttl=3600, clock=monotonic)
    follow = FollowKeyEvents(MemoryKeyEventFeed(store), cache, clock)
    await follow()
    with pytest.raises(NotFound):
        await UpdateTenant(operator_uow, clock, hasher, cache)(TenantId(new_id()), name="x")
    assert await follow() == []


async def test_revoke_of_a_missing_or_foreign_key_is_not_found(ops, store) -> None:
    tenant, key = await ops.create("acme")
    stranger, _ = await ops.create("stranger")
    with pytest.raises(NotFound):
        await ops.revoke(tenant.id, new_id())
    with pytest.raises(NotFound):
        await ops.revoke(stranger.id, key.id)
    assert (await ops.authenticate(key.token)).tenant_id == tenant.id
    await ops.revoke(tenant.id, key.id)
    revoked_at = store.tables["api_keys"][key.id].revoked_at
    await ops.revoke(tenant.id, key.id)  # again: nothing changes
    assert store.tables["api_keys"][key.id].revoked_at == revoked_at


async def test_revoke_records_when(ops, store, clock) -> None:
    tenant, key = await ops.create("acme")
    clock.advance(10)
    await ops.revoke(tenant.id, key.id)
    assert store.tables["api_keys"][key.id].revoked_at == clock.now()


async def test_delete_tenant_removes_its_records_and_keys_and_drops_only_its_cached_keys(
        ops, store, cache, books, cities, users) -> None:
    tenant, key = await ops.create("doomed")
    survivor, survivor_key = await ops.create("survivor")
    for owner in (tenant.id, survivor.id):
        await books.create(owner, {"name": "B", "author": "A", "release_year": 1})
        await cities.create(owner, {"name": "C", "population": 1})
        await users.create(owner, {"name": "U", "full_name": ""})
    await ops.issue(tenant.id)
    assert (await ops.authenticate(key.token)).tenant_id == tenant.id
    assert (await ops.authenticate(survivor_key.token)).tenant_id == survivor.id

    await ops.delete(tenant.id)

    assert cache.get(key.token) is None
    assert cache.get(survivor_key.token).tenant_id == survivor.id
    with pytest.raises(InvalidCredentials):
        await ops.authenticate(key.token)
    with pytest.raises(NotFound):
        await ops.get(tenant.id)
    for table in ("books", "cities", "users", "api_keys"):
        owners = {row.tenant_id for row in store.tables[table].values()}
        assert owners == {survivor.id}, table
    assert (await ops.authenticate(survivor_key.token)).tenant_id == survivor.id
    # The slug is free again.
    again, _ = await ops.create("doomed")
    assert again.id != tenant.id


async def test_delete_of_a_missing_tenant_is_not_found(ops) -> None:
    with pytest.raises(NotFound):
        await ops.delete(TenantId(new_id()))


async def test_authenticate_rejects_malformed_tokens(ops) -> None:
    await ops.create("acme")
    for token in ("", "garbage", "ck_", "Bearer x", "ck_" + "0" * 64 + "_"):
        with pytest.raises(InvalidCredentials):
            await ops.authenticate(token)


async def test_authenticate_rejects_a_wrong_secret(ops, cache) -> None:
    tenant, key = await ops.create("acme")
    _, _, secret = parse_token(key.token)
    forged = format_token(tenant.id, key.id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    with pytest.raises(InvalidCredentials):
        await ops.authenticate(forged)
    assert cache.get(forged) is None


async def test_authenticate_rejects_unknown_keys_and_tenants(ops) -> None:
    tenant, key = await ops.create("acme")
    stranger, _ = await ops.create("stranger")
    _, _, secret = parse_token(key.token)
    for token in (format_token(tenant.id, new_id(), secret),
                  format_token(TenantId(new_id()), key.id, secret),
                  format_token(stranger.id, key.id, secret)):  # a key under the wrong tenant
        with pytest.raises(InvalidCredentials):
            await ops.authenticate(token)


async def test_authenticate_caches_only_good_keys(ops, cache, monotonic) -> None:
    tenant, key = await ops.create("acme")
    assert cache.get(key.token) is None
    assert (await ops.authenticate(key.token)).tenant_id == tenant.id
    assert cache.get(key.token).tenant_id == tenant.id
    monotonic.value += 31
    assert cache.get(key.token) is None
    assert (await ops.authenticate(key.token)).tenant_id == tenant.id
