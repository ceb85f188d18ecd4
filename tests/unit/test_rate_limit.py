"""The GCRA arithmetic, the in-process limiter, the concurrency cap and the RateLimit rules."""

import asyncio

import pytest

from adapters.ratelimit.concurrency import TenantConcurrency
from adapters.ratelimit.local import InMemoryRateLimiter
from domain.errors import InvalidInput
from domain.ids import new_id
from domain.model import RateLimit
from domain.ratelimit import gcra
from domain.tenancy import TenantId
from entrypoints.http.limits import rate_headers

A, B = TenantId(new_id()), TenantId(new_id())


def test_a_full_bucket_allows_a_burst_then_says_when_to_come_back() -> None:
    limit, tat, now = RateLimit(2.0, 5), 100.0, 100.0
    for left in (4, 3, 2, 1, 0):
        decision, tat = gcra(tat, now, limit)
        assert decision.allowed and decision.remaining == left
    decision, after = gcra(tat, now, limit)
    assert not decision.allowed and after == tat
    assert decision.retry_after == pytest.approx(0.5)  # one token at 2 per second
    assert decision.reset_after == pytest.approx(2.5)  # five tokens


def test_the_bucket_refills_at_the_rate() -> None:
    limit, tat = RateLimit(4.0, 2), 0.0
    for _ in range(2):
        _, tat = gcra(tat, 0.0, limit)
    assert not gcra(tat, 0.0, limit)[0].allowed
    assert not gcra(tat, 0.249, limit)[0].allowed
    decision, tat = gcra(tat, 0.25, limit)
    assert decision.allowed and decision.remaining == 0
    decision, _ = gcra(tat, 10.0, limit)  # long idle: full again, never more than the burst
    assert decision.allowed and decision.remaining == 1


def test_rate_limit_rules() -> None:
    assert RateLimit.of(0.1, 1) == RateLimit(0.1, 1)
    assert RateLimit.of(100_000, 100_000) == RateLimit(100_000.0, 100_000)
    for rate, burst in [(0.09, 1), (100_001, 1), (1, 0), (1, 100_001), (True, 1), (1, 2.5),
                        ("1", 1)]:
        with pytest.raises(InvalidInput):
            RateLimit.of(rate, burst)


def test_headers_follow_the_contract() -> None:
    limit = RateLimit(2.0, 5)
    decision, tat = gcra(0.0, 0.0, limit)
    assert rate_headers(limit, decision) == {
        "RateLimit-Policy": '"tenant";q=5;w=3', "RateLimit": '"tenant";r=4;t=1'}
    assert rate_headers(RateLimit(100.0, 20), decision)["RateLimit-Policy"] == \
        '"tenant";q=20;w=1'  # at least one second


class Clock:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


async def test_the_local_limiter_keeps_one_bucket_per_tenant() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter(clock=clock)
    limit = RateLimit(1.0, 2)
    assert [(await limiter.hit(A, limit)).allowed for _ in range(3)] == [True, True, False]
    assert (await limiter.hit(B, limit)).allowed
    clock.value += 1.0
    assert (await limiter.hit(A, limit)).allowed


async def test_the_local_limiter_forgets_full_buckets_past_its_size() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter(max_entries=2, clock=clock)
    limit = RateLimit(1.0, 1)
    for tenant in (A, B):
        await limiter.hit(tenant, limit)
    clock.value += 5  # both full again: dropped when a third tenant comes
    third = TenantId(new_id())
    await limiter.hit(third, limit)
    assert set(limiter._tats) == {third}  # noqa: SLF001 - the full buckets are gone
    assert (await limiter.hit(A, limit)).allowed
    assert not (await limiter.hit(A, limit)).allowed  # and a new bucket holds the burst


async def test_the_concurrency_cap_queues_then_gives_up() -> None:
    cap = TenantConcurrency(limit=2, queue_timeout=0.05)
    release = asyncio.Event()
    held: list[bool] = []

    async def request(tenant: TenantId) -> None:
        async with cap.slot(tenant) as got:
            held.append(got)
            if got:
                await release.wait()

    first = [asyncio.create_task(request(A)) for _ in range(2)]
    await asyncio.sleep(0)
    await request(A)  # the third waits, then gives up
    assert held == [True, True, False]
    other = asyncio.create_task(request(B))  # another tenant has slots of its own
    while len(held) < 4:
        await asyncio.sleep(0.001)
    assert held[-1] is True
    release.set()
    await asyncio.gather(*first, other)
    async with cap.slot(A) as got:  # all released, and no state kept for idle tenants
        assert got
    assert cap._gates == {}  # noqa: SLF001 - the idle tenants' state is gone


async def test_a_queued_request_gets_the_slot_that_frees_up() -> None:
    cap = TenantConcurrency(limit=1, queue_timeout=30)
    release = asyncio.Event()

    async def holder() -> None:
        async with cap.slot(A) as got:
            assert got
            await release.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)

    async def waiter() -> bool:
        async with cap.slot(A) as got:
            return got

    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    release.set()
    assert await asyncio.wait_for(waiting, 30) is True
    await task


def test_settings_defaults_follow_the_pool_and_mask_the_redis_password() -> None:
    from entrypoints.settings import Settings

    settings = Settings(pool_size=20, pool_timeout=5, redis_url="redis://u:secret@r:6379/0")
    assert (settings.max_concurrency, settings.queue_timeout) == (10, 5)
    assert (settings.tenant_rate, settings.tenant_burst) == (100, 200)
    assert Settings(pool_size=1).max_concurrency == 1
    assert Settings(tenant_max_concurrency=3, tenant_queue_timeout=0).queue_timeout == 0
    shown = settings.masked()
    assert shown["redis_url"] == "redis://u:***@r:6379/0" and "secret" not in str(shown)
