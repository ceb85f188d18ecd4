"""API key use cases on the memory adapters: options, scopes, expiry, rolling, last use."""

from datetime import timedelta
from uuid import UUID

import pytest

from adapters.security.cache import TtlCredentialCache
from domain.errors import Conflict, InvalidCredentials, InvalidInput, NotFound
from domain.ids import new_id
from domain.model import KeyOptions
from domain.model.api_key import scopes_of
from domain.tenancy import TenantId
from domain.use_cases.api_keys import (Authenticate, GetApiKey, IssueApiKey, ListApiKeys,
                                       RevokeApiKey, RollApiKey)
from domain.use_cases.tenants import CreateTenant


class Usage:
    """A KeyUsageRecorder that remembers what it was asked to record."""

    def __init__(self) -> None:
        self.recorded: list[tuple[TenantId, UUID, object]] = []

    def record(self, tenant_id: TenantId, key_id: UUID, at: object) -> None:
        self.recorded.append((tenant_id, key_id, at))


@pytest.fixture
def usage() -> Usage:
    return Usage()


@pytest.fixture
def cases(operator_uow, clock, hasher, cache, usage, key_reader):  # type: ignore[no-untyped-def]
    args = (operator_uow, clock, hasher, cache)

    class Cases:
        create = CreateTenant(*args)
        issue, list, get = IssueApiKey(*args), ListApiKeys(*args), GetApiKey(*args)
        revoke, roll = RevokeApiKey(*args), RollApiKey(*args)
        authenticate = Authenticate(*args, keys=key_reader, usage=usage)
    return Cases


@pytest.mark.parametrize("scopes, canonical", [
    (["read"], ("read",)), (["read", "write"], ("read", "write")),
    (("write", "read"), ("read", "write")), (["write"], None), ([], None),
    (["read", "read"], None), (["read", "admin"], None), ("read", None), ([1], None)])
def test_scopes(scopes: object, canonical: tuple[str, ...] | None) -> None:
    assert scopes_of(scopes) == canonical


def test_key_options_bounds(clock) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    assert KeyOptions.checked(now, expires_at=now + timedelta(days=730)).expires_at is not None
    for bad in (now, now - timedelta(seconds=1), now + timedelta(days=730, seconds=1),
                now.replace(tzinfo=None) + timedelta(days=1), "2030-01-01"):
        with pytest.raises(InvalidInput) as excinfo:
            KeyOptions.checked(now, expires_at=bad)
        assert [e.field for e in excinfo.value.errors] == ["expires_at"]
    with pytest.raises(InvalidInput) as excinfo:
        KeyOptions.checked(now, name="x" * 101, scopes=["write"])
    assert [e.field for e in excinfo.value.errors] == ["name", "scopes"]


async def test_an_expired_key_is_invalid_even_when_cached(cases, clock) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = await cases.create("acme")
    issued = await cases.issue(tenant.id, expires_at=clock.now() + timedelta(seconds=10))
    assert (await cases.authenticate(issued.token)).tenant_id == tenant.id
    clock.advance(9.999)
    assert (await cases.authenticate(issued.token)).key_id == issued.id  # from the cache
    clock.advance(0.001)
    with pytest.raises(InvalidCredentials):
        await cases.authenticate(issued.token)
    with pytest.raises(InvalidCredentials):  # and from the store
        await cases.authenticate(issued.token)


async def test_rolling_never_lengthens_a_keys_life(cases, clock) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = await cases.create("acme")
    soon = clock.now() + timedelta(seconds=100)
    issued = await cases.issue(tenant.id, name="ci", scopes=["read"], expires_at=soon)
    rolled = await cases.roll(tenant.id, issued.id, 3600)
    assert (rolled.key.name, rolled.key.scopes, rolled.key.expires_at) == ("ci", ("read",), None)
    assert (await cases.get(tenant.id, issued.id)).expires_at == soon
    again = await cases.roll(tenant.id, issued.id, 10)
    assert (await cases.get(tenant.id, issued.id)).expires_at == clock.now() + timedelta(seconds=10)
    assert again.id != rolled.id
    clock.advance(10)
    with pytest.raises(Conflict):
        await cases.roll(tenant.id, issued.id, 10)
    with pytest.raises(NotFound):
        await cases.roll(tenant.id, new_id(), 10)
    listed = await cases.list(tenant.id, after=None, limit=10)
    assert len(listed.items) == 4 and listed.next_after is None


async def test_use_is_recorded_at_most_once_a_minute_per_key(cases, clock, usage) -> None:  # type: ignore[no-untyped-def]
    tenant, first = await cases.create("acme")
    second = await cases.issue(tenant.id)
    for _ in range(130):  # 65 s, a request of each every 0.5 s
        await cases.authenticate(first.token)
        await cases.authenticate(second.token)
        clock.advance(0.5)
    assert [r[1] for r in usage.recorded] == [first.id, second.id, first.id, second.id]
    clock.advance(54.5)
    await cases.authenticate(first.token)
    assert len(usage.recorded) == 4
    clock.advance(0.5)
    await cases.authenticate(first.token)
    assert len(usage.recorded) == 5 and usage.recorded[-1] == (tenant.id, first.id, clock.now())


async def test_a_key_last_used_lately_elsewhere_is_not_recorded_again(
        operator_uow, clock, hasher, usage, key_reader) -> None:  # type: ignore[no-untyped-def]
    tenant, key = await CreateTenant(operator_uow, clock, hasher, TtlCredentialCache(0))("acme")
    async with operator_uow() as uow:
        await uow.api_keys.touch(tenant.id, key.id, at=clock.now(), unless_since=clock.now())
        await uow.commit()
    clock.advance(30)
    authenticate = Authenticate(operator_uow, clock, hasher, TtlCredentialCache(0),
                                keys=key_reader, usage=usage)
    await authenticate(key.token)
    assert usage.recorded == []
    clock.advance(30)
    await authenticate(key.token)
    assert len(usage.recorded) == 1


async def test_issuing_for_a_missing_tenant_and_bad_options(cases, store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        await cases.issue(TenantId(new_id()))
    tenant, _ = await cases.create("acme")
    with pytest.raises(InvalidInput):
        await cases.issue(tenant.id, scopes=["write"])
    assert len(store.tables["api_keys"]) == 1
    with pytest.raises(NotFound):
        await cases.list(TenantId(new_id()), after=None, limit=10)
