"""IdempotencyStore: claims, answers, releases, expiry, scopes and purging, on every adapter.

On PostgreSQL the store runs as the service's role, under row-level security: scopes are
entered one at a time, and purging crosses them only for expired records."""

import asyncio
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from domain.errors import NotFound
from domain.idempotency import (OPERATOR_SCOPE, InProgress, Mismatch, PurgeBatch, Started,
                                StoredAnswer)
from domain.model import Tenant
from domain.ports import IdempotencyStore
from domain.tenancy import TenantId
from tests.contract.conftest import UowFactories
from tests.contract.helpers import utcnow

TTL = 3600.0


def key() -> str:
    return uuid4().hex * 2  # 64 characters, as a SHA-256 in hex


async def purge_all(store: IdempotencyStore, limit: int = 500) -> int:
    deleted, resume_from, now = 0, None, utcnow()
    while True:
        batch = await store.purge_expired(now, limit, resume_from=resume_from)
        assert isinstance(batch, PurgeBatch) and batch.deleted <= limit
        deleted += batch.deleted
        if batch.resume_from is None:
            return deleted
        resume_from = batch.resume_from


async def test_claim_answer_and_replay(uow_factories: UowFactories, tenant: Tenant) -> None:
    store, k, now = uow_factories.idempotency, key(), utcnow()
    assert await store.begin(tenant.id, k, "r1", now=now, ttl_seconds=TTL) == Started()
    assert await store.begin(tenant.id, k, "r1", now=now, ttl_seconds=TTL) == InProgress()
    assert await store.begin(tenant.id, k, "r2", now=now, ttl_seconds=TTL) == Mismatch()
    await store.complete(tenant.id, k, 201, b"\x00sealed\xff")
    assert await store.begin(tenant.id, k, "r1", now=now, ttl_seconds=TTL) == \
        StoredAnswer(201, b"\x00sealed\xff")
    assert await store.begin(tenant.id, k, "r2", now=now, ttl_seconds=TTL) == Mismatch()
    await store.complete(tenant.id, k, 500, b"other")  # the first answer stays
    await store.abandon(tenant.id, k)  # an answered key is not released
    assert await store.begin(tenant.id, k, "r1", now=now, ttl_seconds=TTL) == \
        StoredAnswer(201, b"\x00sealed\xff")


async def test_abandon_releases_the_key(uow_factories: UowFactories, tenant: Tenant) -> None:
    store, k, now = uow_factories.idempotency, key(), utcnow()
    assert await store.begin(tenant.id, k, "r1", now=now, ttl_seconds=TTL) == Started()
    await store.abandon(tenant.id, k)
    assert await store.begin(tenant.id, k, "r2", now=now, ttl_seconds=TTL) == Started()
    assert await store.begin(tenant.id, k, "r1", now=now, ttl_seconds=TTL) == Mismatch()


async def test_expired_records_are_taken_over_and_live_ones_never(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    store, answered, running, now = uow_factories.idempotency, key(), key(), utcnow()
    assert await store.begin(tenant.id, answered, "r1", now=now, ttl_seconds=10) == Started()
    await store.complete(tenant.id, answered, 201, b"first")
    assert await store.begin(tenant.id, running, "r1", now=now, ttl_seconds=10) == Started()
    almost = now + timedelta(seconds=9)
    assert await store.begin(tenant.id, running, "r1", now=almost, ttl_seconds=10) == InProgress()
    assert await store.begin(tenant.id, answered, "r1", now=almost, ttl_seconds=10) == \
        StoredAnswer(201, b"first")
    later = now + timedelta(seconds=11)
    assert await store.begin(tenant.id, answered, "r2", now=later, ttl_seconds=10) == Started()
    assert await store.begin(tenant.id, running, "r1", now=later, ttl_seconds=10) == Started()
    assert await store.begin(tenant.id, answered, "r1", now=later, ttl_seconds=10) == Mismatch()
    assert await store.begin(tenant.id, running, "r1", now=later, ttl_seconds=10) == InProgress()


async def test_scopes_are_independent(uow_factories: UowFactories, tenant: Tenant,
                                      other_tenant: Tenant) -> None:
    store, k, now = uow_factories.idempotency, key(), utcnow()
    for scope in (tenant.id, other_tenant.id, OPERATOR_SCOPE):
        assert await store.begin(scope, k, f"r-{scope}", now=now, ttl_seconds=TTL) == Started()
    await store.complete(tenant.id, k, 201, b"mine")
    assert await store.begin(other_tenant.id, k, f"r-{other_tenant.id}", now=now,
                             ttl_seconds=TTL) == InProgress()
    assert await store.begin(OPERATOR_SCOPE, k, f"r-{OPERATOR_SCOPE}", now=now,
                             ttl_seconds=TTL) == InProgress()
    await store.abandon(OPERATOR_SCOPE, k)
    assert await store.begin(tenant.id, k, f"r-{tenant.id}", now=now, ttl_seconds=TTL) == \
        StoredAnswer(201, b"mine")


async def test_concurrent_claims_start_once(uow_factories: UowFactories, tenant: Tenant) -> None:
    store, k, now = uow_factories.idempotency, key(), utcnow()
    claims = await asyncio.gather(*(store.begin(tenant.id, k, "r", now=now, ttl_seconds=TTL)
                                    for _ in range(10)))
    assert claims.count(Started()) == 1
    assert claims.count(InProgress()) == 9


async def test_concurrent_takeovers_of_an_expired_record_start_once(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    store, k, now = uow_factories.idempotency, key(), utcnow()
    assert await store.begin(tenant.id, k, "old", now=now, ttl_seconds=1) == Started()
    later = now + timedelta(seconds=2)
    claims = await asyncio.gather(*(store.begin(tenant.id, k, "new", now=later, ttl_seconds=TTL)
                                    for _ in range(10)))
    assert claims.count(Started()) == 1
    assert claims.count(InProgress()) == 9


async def exists(store: IdempotencyStore, scope: UUID, k: str, when: datetime) -> bool:
    """Whether the record (claimed for request "r", alive at `when`) is still there: asking
    at that moment finds it, or finds nothing and claims the key anew (then released)."""
    try:
        claim = await store.begin(scope, k, "r", now=when, ttl_seconds=TTL)
    except NotFound:  # the scope's tenant is gone, and so is the record
        return False
    if claim == Started():
        await store.abandon(scope, k)
        return False
    return True


async def test_purge_deletes_expired_records_only(uow_factories: UowFactories, tenant: Tenant,
                                                 other_tenant: Tenant) -> None:
    store, now = uow_factories.idempotency, utcnow()
    past = now - timedelta(hours=2)  # expired for the database's clock too
    expired = [(scope, key()) for scope in (tenant.id, other_tenant.id, OPERATOR_SCOPE)
               for _ in range(3)]
    for scope, k in expired:
        assert await store.begin(scope, k, "r", now=past, ttl_seconds=60) == Started()
    await store.complete(*expired[0], 201, b"answered")
    fresh = (tenant.id, key())
    assert await store.begin(*fresh, "r", now=now, ttl_seconds=TTL) == Started()

    deleted = await purge_all(store, limit=2)
    # the SQL databases are shared by the session: other tests' expired records go too
    assert deleted >= len(expired) if uow_factories.is_sql else deleted == len(expired)
    for scope, k in expired:
        assert not await exists(store, scope, k, past + timedelta(seconds=1))
    assert await exists(store, *fresh, now)


async def test_purge_resumes_where_the_last_batch_ended(uow_factories: UowFactories) -> None:
    store, past = uow_factories.idempotency, utcnow() - timedelta(hours=2)
    # scopes after every other one in the shared databases, so that only these are in reach
    scopes = sorted(UUID(f"ffffffff-ffff-4fff-bfff-{uuid4().hex[:12]}") for _ in range(3))
    for scope in scopes:
        await uow_factories.new_tenant(TenantId(scope))
    for scope in scopes:
        for _ in range(2):
            assert await store.begin(scope, key(), "r", now=past, ttl_seconds=60) == Started()
    batch = await store.purge_expired(utcnow(), 3, resume_from=scopes[0])
    assert batch == PurgeBatch(3, scopes[1])
    batch = await store.purge_expired(utcnow(), 1000, resume_from=scopes[2])
    assert batch == PurgeBatch(2, None)
    assert await store.purge_expired(utcnow(), 1000, resume_from=scopes[1]) == PurgeBatch(1, None)


async def test_deleting_a_tenant_deletes_its_records(uow_factories: UowFactories,
                                                     tenant: Tenant,
                                                     other_tenant: Tenant) -> None:
    store, now = uow_factories.idempotency, utcnow()
    mine, theirs, operator = key(), key(), key()
    assert await store.begin(tenant.id, mine, "r", now=now, ttl_seconds=TTL) == Started()
    assert await store.begin(other_tenant.id, theirs, "r", now=now, ttl_seconds=TTL) == Started()
    assert await store.begin(OPERATOR_SCOPE, operator, "r", now=now, ttl_seconds=TTL) == Started()
    async with uow_factories.operator() as uow:
        assert await uow.tenants.delete(tenant.id)
        await uow.commit()
    assert not await exists(store, tenant.id, mine, now)
    assert await exists(store, other_tenant.id, theirs, now)
    assert await exists(store, OPERATOR_SCOPE, operator, now)


async def test_deleting_a_tenant_without_commit_keeps_its_records(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    store, now, k = uow_factories.idempotency, utcnow(), key()
    assert await store.begin(tenant.id, k, "r", now=now, ttl_seconds=TTL) == Started()
    async with uow_factories.operator() as uow:
        assert await uow.tenants.delete(tenant.id)
    assert await exists(store, tenant.id, k, now)


async def test_no_record_is_written_for_a_missing_tenant(uow_factories: UowFactories,
                                                         tenant: Tenant) -> None:
    store, now, k = uow_factories.idempotency, utcnow(), key()
    async with uow_factories.operator() as uow:
        assert await uow.tenants.delete(tenant.id)
        await uow.commit()
    for _ in range(2):  # and a second try finds nothing left by the first
        try:
            await store.begin(tenant.id, k, "r", now=now, ttl_seconds=TTL)
        except NotFound:
            pass
        else:
            raise AssertionError("a claim was made for a tenant that does not exist")
    missing = TenantId(uuid4())
    try:
        await store.begin(missing, k, "r", now=now, ttl_seconds=TTL)
    except NotFound:
        pass
    else:
        raise AssertionError("a claim was made for a tenant that never existed")
    assert await store.begin(OPERATOR_SCOPE, k, "r", now=now, ttl_seconds=TTL) == Started()


async def test_a_claim_lapses_after_its_lease_unless_renewed(uow_factories: UowFactories,
                                                            tenant: Tenant) -> None:
    store, now = uow_factories.idempotency, utcnow()
    lapsed, renewed = key(), key()
    for k in (lapsed, renewed):
        assert await store.begin(tenant.id, k, "r", now=now, ttl_seconds=10) == Started()
    await store.renew(tenant.id, renewed, expires_at=now + timedelta(seconds=30))
    later = now + timedelta(seconds=20)
    assert await store.begin(tenant.id, lapsed, "r", now=later, ttl_seconds=10) == Started()
    assert await store.begin(tenant.id, renewed, "r", now=later, ttl_seconds=10) == InProgress()
    await store.complete(tenant.id, renewed, 201, b"answer", expires_at=now + timedelta(hours=1))
    await store.renew(tenant.id, renewed, expires_at=now)  # an answered record keeps its expiry
    assert await store.begin(tenant.id, renewed, "r", now=now + timedelta(minutes=30),
                             ttl_seconds=10) == StoredAnswer(201, b"answer")
