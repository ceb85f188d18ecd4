"""The Redis-shared limiter against a real redis-server: one bucket for every instance,
failing open to the local limiter when Redis is gone or frozen (SIGSTOP: slow, not refused),
counted on every fallback, logged at most once a minute, and shared again once Redis answers."""

import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from adapters.ratelimit.local import InMemoryRateLimiter
from adapters.ratelimit.shared import RedisRateLimiter
from domain.ids import new_id
from domain.model import RateLimit
from domain.tenancy import TenantId
from tests.support.redis import RedisServer

LIMIT = RateLimit(0.5, 3)  # slow enough that nothing refills during a test


class Clock:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


class Counted:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest_asyncio.fixture
async def limiters(redis_server: RedisServer) -> AsyncIterator[tuple[RedisRateLimiter, ...]]:
    made = []
    for _ in range(2):  # two instances of the service
        clock, counted = Clock(), Counted()
        limiter = RedisRateLimiter(redis_server.url, timeout=0.2, on_fallback=counted,
                                   fallback=InMemoryRateLimiter(clock=clock), clock=clock)
        limiter.test_clock, limiter.test_fallbacks = clock, counted  # type: ignore[attr-defined]
        await limiter.warm()
        made.append(limiter)
    yield tuple(made)
    for limiter in made:
        await limiter.close()


async def test_instances_share_one_bucket(limiters: tuple[RedisRateLimiter, ...]) -> None:
    first, second = limiters
    tenant, other = TenantId(new_id()), TenantId(new_id())
    answers = [await (first if n % 2 else second).hit(tenant, LIMIT) for n in range(4)]
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert [a.remaining for a in answers] == [2, 1, 0, 0]
    assert answers[-1].retry_after == pytest.approx(2.0, abs=0.1)
    assert answers[-1].reset_after == pytest.approx(6.0, abs=0.1)
    assert (await second.hit(other, LIMIT)).allowed  # a bucket per tenant
    assert first.test_fallbacks.count == second.test_fallbacks.count == 0  # type: ignore[attr-defined]


async def test_gone_then_back(limiters: tuple[RedisRateLimiter, ...], redis_server: RedisServer,
                              caplog: pytest.LogCaptureFixture) -> None:
    limiter = limiters[0]
    clock, fallbacks = limiter.test_clock, limiter.test_fallbacks  # type: ignore[attr-defined]
    tenant = TenantId(new_id())
    assert (await limiter.hit(tenant, LIMIT)).remaining == 2
    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="catalog.ratelimit")
    local = [await limiter.hit(tenant, LIMIT) for _ in range(4)]
    assert [a.allowed for a in local] == [True, True, True, False]  # the local bucket, full
    assert fallbacks.count == 4
    for _ in range(20):  # a retry of Redis each time, and each one fails
        clock.value += 1.5
        await limiter.hit(tenant, LIMIT)
    assert fallbacks.count == 24
    warnings = [r for r in caplog.records if r.name == "catalog.ratelimit"]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    clock.value += 60
    await limiter.hit(tenant, LIMIT)
    assert len([r for r in caplog.records if r.name == "catalog.ratelimit"]) == 2

    redis_server.start()
    clock.value += 1.5
    shared = [await limiter.hit(tenant, LIMIT) for _ in range(4)]  # a fresh Redis: full bucket
    assert [a.allowed for a in shared] == [True, True, True, False]
    assert fallbacks.count == 25
    assert any("answers again" in r.getMessage() for r in caplog.records)
    other = limiters[1]  # its idle connection died with the old Redis: one fallback to see it
    for _ in range(5):
        before = other.test_fallbacks.count  # type: ignore[attr-defined]
        decision = await other.hit(tenant, LIMIT)
        if other.test_fallbacks.count == before:  # type: ignore[attr-defined]
            break
        other.test_clock.value += 1.5  # type: ignore[attr-defined]
    assert decision.allowed is False  # the bucket the first instance emptied: shared again


async def test_a_frozen_redis_is_a_slow_one(limiters: tuple[RedisRateLimiter, ...],
                                            redis_server: RedisServer) -> None:
    limiter = limiters[0]
    clock, fallbacks = limiter.test_clock, limiter.test_fallbacks  # type: ignore[attr-defined]
    tenant = TenantId(new_id())
    assert (await limiter.hit(tenant, LIMIT)).allowed
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)  # accepts nothing, answers nothing
    try:
        decision = await limiter.hit(tenant, LIMIT)  # bounded by the limiter's timeout
        assert decision.allowed and fallbacks.count == 1
        assert (await limiter.hit(tenant, LIMIT)).allowed and fallbacks.count == 2  # no wait
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    clock.value += 1.5
    for _ in range(50):  # the frozen connection was dropped; a new one answers
        if (await limiter.hit(tenant, LIMIT)).allowed is False and fallbacks.count == 2:
            break
        clock.value += 1.5
    assert fallbacks.count == 2, "the shared bucket did not come back"
