"""Two real `catalog serve` instances share one tenant's rate limit through a real Redis
(Debian's redis-server, on loopback, stopped by PID). Redis is then killed mid-run: nothing
fails, each instance falls back to its local limit and counts it; Redis is started again and
the shared limit resumes. Every bound is a condition with a generous deadline; the only
measured window is judged against the limit's own arithmetic, never against a duration."""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import new_pg_database, owner_url_of
from tests.ops.harness import Outcome, Service, Tenant, metric, new_tenant, send, service_env
from tests.support.redis import RedisServer

RATE, BURST = 20.0, 20       # the tenants' default limit in this test
WINDOW = 4.0                 # seconds of the measured windows
LOOPS = 8                    # concurrent clients, alternating between the two instances
MAX_PER_LOOP = 4000          # every load loop also ends after this many requests
FALLBACKS = "catalog_ratelimit_redis_fallbacks_total"


@dataclass
class Flood:
    """LOOPS loops sending GET /v1/me to both instances in turn, until stopped (bounded)."""

    clients: list[httpx.AsyncClient]
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def _loop(self, loop: int, deadline: float) -> None:
        for count in range(MAX_PER_LOOP):
            if self.stopped.is_set() or time.monotonic() > deadline:
                return
            client = self.clients[(loop + count) % len(self.clients)]
            self.outcomes.append(await send(client, loop, "GET", "/v1/me"))

    def run(self, seconds: float) -> "asyncio.Future[list[None]]":
        deadline = time.monotonic() + seconds
        return asyncio.gather(*(self._loop(n, deadline) for n in range(LOOPS)))

    def served_within(self, start: float, end: float) -> int:
        """2xx decided inside [start, end]: sent at or after start, answered by end."""
        return sum(1 for o in self.outcomes if o.ok and o.started >= start and o.ended <= end)

    def after(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment]


async def fallbacks(service: Service) -> float:
    async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
        return metric((await client.get("/metrics")).text, FALLBACKS)


async def shared_limit_holds(flood: Flood, *services: Service) -> int:
    """Measure one WINDOW of the running flood; the 2xx in it stay within the limit."""
    before = [await fallbacks(service) for service in services]
    start = time.monotonic()
    await asyncio.sleep(WINDOW + 0.5)
    served = flood.served_within(start, start + WINDOW)
    allowed = (RATE * WINDOW + BURST) * 1.1
    after = [await fallbacks(service) for service in services]
    per_second = [flood.served_within(start + s, start + s + 1) for s in range(int(WINDOW))]
    assert served <= allowed, f"{served} requests served in {WINDOW} s: more than {allowed} " \
                              f"(per second {per_second}; fallbacks {before} -> {after})"
    return served


async def until(condition, what: str, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    """Poll the async `condition` until true; the seconds it took (fails past `timeout`)."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < timeout, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_two_instances_share_the_limit_and_survive_redis_going_away(
        postgres_server: object, tmp_path: Path) -> None:
    url = await new_pg_database(postgres_server)
    env = service_env(url, owner_url_of(postgres_server, url), tenant_rate=RATE,
                      tenant_burst=BURST, redis_timeout_ms=250)
    store = RedisServer(tmp_path)
    store.start()
    with contextlib.ExitStack() as running:
        running.callback(store.stop)
        env["CATALOG_REDIS_URL"] = store.url
        first = running.enter_context(Service(env, tmp_path, name="app1"))
        second = running.enter_context(Service(env, tmp_path, name="app2"))
        await asyncio.gather(first.wait_for("/readyz"), second.wait_for("/readyz"))
        tenant: Tenant = await new_tenant(first.base)
        bucket = f"catalog:ratelimit:{tenant.id}"
        async with httpx.AsyncClient(base_url=first.base, headers=tenant.auth, timeout=30) as one, \
                httpx.AsyncClient(base_url=second.base, headers=tenant.auth, timeout=30) as two:
            flood = Flood([one, two])
            running_flood = asyncio.ensure_future(flood.run(300))
            try:
                shared = await shared_limit_holds(flood, first, second)
                with store.client() as client:
                    assert client.exists(bucket), "the instances did not use Redis"
                assert await fallbacks(first) == await fallbacks(second) == 0

                store.stop()
                killed = time.monotonic()
                await until(lambda: _both_fell_back(first, second), "both instances fell back")
                await asyncio.sleep(2.0)  # the local limits at work
                during = flood.after(killed)
                fallback_seconds = min(o.ended for o in during if o.ok) - killed

                store.start()
                restarted = time.monotonic()
                with store.client() as client:
                    resume_seconds = await until(
                        lambda: _exists(client, bucket), "an instance used Redis again")
                await until(lambda: _fallbacks_stopped(first, second),
                            "both instances stopped falling back")
                resumed = await shared_limit_holds(flood, first, second)
            finally:
                flood.stopped.set()
                await running_flood

    failed = [str(o) for o in flood.outcomes if o.status is None or o.status >= 500]
    assert failed == [], f"{len(failed)} of {len(flood.outcomes)} failed: {failed[:10]}"
    assert {o.status for o in flood.outcomes} == {200, 429}
    served_down = [o for o in during if o.ended < restarted]
    assert any(o.ok for o in served_down) and any(o.status == 429 for o in served_down), \
        "without Redis each instance still serves, and still limits"
    print(f"\nshared: {shared} served in {WINDOW} s (limit {RATE * WINDOW + BURST:.0f}); "
          f"after resuming: {resumed}; fell back {fallback_seconds * 1000:.0f} ms after "
          f"Redis died; Redis used again {resume_seconds * 1000:.0f} ms after it restarted; "
          f"5xx: {len(failed)} of {len(flood.outcomes)}")


async def _both_fell_back(first: Service, second: Service) -> bool:
    return min(await fallbacks(first), await fallbacks(second)) > 0


async def _exists(client, key: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(await asyncio.to_thread(client.exists, key))


async def _fallbacks_stopped(first: Service, second: Service) -> bool:
    before = (await fallbacks(first), await fallbacks(second))
    await asyncio.sleep(1.5)  # longer than the instances' pause between tries of Redis
    return (await fallbacks(first), await fallbacks(second)) == before
