"""A local deployment without Docker: two `catalog serve` replicas on one PostgreSQL database
behind a real HAProxy running deploy/haproxy.cfg (its addresses from APP1_ADDR, APP2_ADDR and
HAPROXY_BIND), all on loopback. Under bounded load one replica is stopped with SIGTERM: no
client request fails, and every acknowledged write is in the database afterwards."""

import asyncio
import contextlib
import re
import time
from pathlib import Path

import httpx

from tests.conftest import new_pg_database, owner_url_of
from tests.ops.harness import (HAProxy, Load, Service, metric, missing_cities, new_tenant,
                               service_env)

LOOPS = 12              # concurrent clients, each POSTing (with an Idempotency-Key) and GETting
LOAD_SECONDS = 6.0      # the load runs this long, and at least AFTER_STOP past the stop...
AFTER_STOP = 1.0
LOAD_LIMIT = 25.0       # ...and each loop ends by this deadline or after MAX_PER_LOOP requests
MAX_PER_LOOP = 1000
STOP_AFTER = 1.5        # seconds into the load when replica 1 gets SIGTERM
DRAIN_SECONDS = 2.5     # /readyz answers 503 this long: HAProxy (fall 2, inter 1s) takes the
                        # replica out within 2 s, before it stops accepting


async def answered(service: Service, route: str, status_class: str | None = None) -> float:
    """How many requests to `route` the replica answered, from its own /metrics."""
    labels = {"route": route} | ({"status_class": status_class} if status_class else {})
    async with httpx.AsyncClient(base_url=service.base, timeout=5) as client:
        text = (await client.get("/metrics")).text
    return metric(text, "catalog_http_requests_total", **labels)


async def test_a_replica_stopped_mid_load_loses_no_request_and_no_write(
        postgres_server: object, tmp_path: Path) -> None:
    url = await new_pg_database(postgres_server)
    owner = owner_url_of(postgres_server, url)
    env = service_env(url, owner, shutdown_drain_seconds=DRAIN_SECONDS)
    with contextlib.ExitStack() as running:  # each one killed by PID at the end, if alive
        first = running.enter_context(Service(env, tmp_path, name="app1"))
        second = running.enter_context(Service(env, tmp_path, name="app2"))
        proxy = running.enter_context(HAProxy(first.address, second.address, tmp_path))
        await asyncio.gather(first.wait_for("/healthz"), second.wait_for("/healthz"))
        # HAProxy sends traffic to a replica after 2 good checks 1 s apart: wait for a third.
        deadline = time.monotonic() + 20
        while min([await answered(first, "/readyz", "2xx"),
                   await answered(second, "/readyz", "2xx")]) < 3:
            assert proxy.running, proxy.log()
            assert time.monotonic() < deadline, "HAProxy never found both replicas ready"
            await asyncio.sleep(0.2)
        tenant = await new_tenant(proxy.base)

        async with httpx.AsyncClient(base_url=proxy.base, headers=tenant.auth, timeout=20,
                                     limits=httpx.Limits(max_connections=LOOPS)) as client:
            async with Load(client, LOOPS, LOAD_LIMIT, MAX_PER_LOOP) as load:
                started = time.monotonic()
                await asyncio.sleep(STOP_AFTER)
                before = len(load.outcomes)
                served_by_first = await answered(first, "/v1/cities/biggest")
                signalled = time.monotonic()
                exit_status = await first.stop_gracefully(DRAIN_SECONDS + 15)
                stop_seconds = time.monotonic() - signalled
                stopped_after = len(load.outcomes)
                # load on the replica left, for LOAD_SECONDS in all and AFTER_STOP at least
                await asyncio.sleep(max(AFTER_STOP, LOAD_SECONDS - (time.monotonic() - started)))
                load.stop()
        assert exit_status == 0, first.log()
        assert proxy.running, proxy.log()
        served_by_second = await answered(second, "/v1/cities/biggest")

    failed = [str(o) for o in load.outcomes if not o.ok]
    assert failed == [], f"{len(failed)} of {len(load.outcomes)} failed: {failed[:10]}" \
                         f"\n{proxy.log()}"
    assert before > 0 and served_by_first > 0, "replica 1 served nothing before it stopped"
    assert len(load.outcomes) > stopped_after, "no request was answered after the stop"
    assert served_by_second > 0
    taken_out = "Server replicas/app1 is DOWN, reason: Layer7 wrong status, code: 503"
    assert taken_out in proxy.log_path.read_text(), "HAProxy did not see the drain\n" + proxy.log()
    created = load.created()
    assert len(created) == len(set(created)) > 0
    assert await missing_cities(owner, tenant.id, created) == set()
    replayed = sum(o.headers.get("idempotent-replayed") == "true" for o in load.outcomes)
    retried = len(re.findall(r"---- \d+/\d+/\d+/\d+/\+?[1-9]", proxy.log_path.read_text()))
    elapsed = max(o.ended for o in load.outcomes) - min(o.started for o in load.outcomes)
    print(f"\nload balanced: {len(load.outcomes)} requests ({len(created)} writes) in "
          f"{elapsed:.1f} s, none failed (HAProxy retried {retried}, the service replayed "
          f"{replayed}); {before} answered before SIGTERM, {stopped_after} when replica 1 had "
          f"exited 0 ({stop_seconds:.2f} s after SIGTERM); GETs answered by replica 1: "
          f"{served_by_first:.0f} (before the stop), by replica 2: {served_by_second:.0f}")
