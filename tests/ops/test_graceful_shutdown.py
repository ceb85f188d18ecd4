"""SIGTERM stops a real `catalog serve` gracefully: /readyz turns 503 for the drain period,
then new connections are refused, the requests in flight all finish, the pool is closed
(no session of the service is left in pg_stat_activity) and the process exits with 0.
The same with `--workers 2`, whose /metrics add up every worker's counts."""

import asyncio
import shutil
import signal
import time
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import new_pg_database, owner_url_of
from tests.ops.harness import (Service, cmdline, metric, new_tenant, row_locked,
                               service_connections, service_env, until_no_service_connections,
                               wait_until, waiting_on_locks)

IN_FLIGHT = 8
DRAIN_SECONDS = 1.0


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_sigterm_drains_finishes_requests_in_flight_and_closes_the_pool(
        postgres_server: object, tmp_path: Path) -> None:
    url = await new_pg_database(postgres_server)
    owner = owner_url_of(postgres_server, url)
    env = service_env(url, owner, shutdown_drain_seconds=DRAIN_SECONDS, log_level="info",
                      lock_timeout_ms=30_000, shutdown_timeout_seconds=20)
    with Service(env, tmp_path) as service:
        await service.wait_for("/readyz")
        tenant = await new_tenant(service.base)
        limits = httpx.Limits(max_connections=IN_FLIGHT + 2)
        async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth, timeout=30,
                                     limits=limits) as client:
            city = (await client.post("/v1/cities", json={"name": "Locked", "population": 1}))
            assert city.status_code == 201, city.text
            city_id = city.json()["id"]
            patches: list[asyncio.Task[httpx.Response]] = []
            try:
                refused_after = await _sigterm_in_flight(service, client, owner, city_id, patches)
                released = time.monotonic()
                answers = await asyncio.wait_for(asyncio.gather(*patches), 20)
            finally:  # on failure: no task left behind
                for task in patches:
                    task.cancel()
                await asyncio.gather(*patches, return_exceptions=True)
        assert [a.status_code for a in answers] == [200] * IN_FLIGHT, [a.text for a in answers]
        assert sorted(a.json()["version"] for a in answers) == list(range(2, IN_FLIGHT + 2))
        status = await asyncio.to_thread(service.wait, 15)
        exited_after = time.monotonic() - released
        assert status == 0, service.log()
    assert await until_no_service_connections(owner) == []
    log = service.log_path.read_text()
    assert "Application shutdown complete" in log, service.log()
    assert "Traceback" not in log, service.log()
    print(f"\ngraceful: /readyz 503 in the drain, connections refused {refused_after:.2f} s "
          f"after SIGTERM (drain {DRAIN_SECONDS} s) with {IN_FLIGHT} requests in flight; all "
          f"200; exit 0 {exited_after:.2f} s after the lock was released; no session left")


async def _sigterm_in_flight(service: Service, client: httpx.AsyncClient, owner: str,
                             city_id: str, patches: list[asyncio.Task[httpx.Response]]) -> float:
    """PATCHes held up by a row lock; SIGTERM; the drain; refusal; then release the lock.
    Returns how long after SIGTERM new connections were refused."""
    async with row_locked(owner, "cities", city_id) as holder:
        patches += [asyncio.create_task(client.patch(f"/v1/cities/{city_id}",
                                                     json={"population": n}))
                    for n in range(2, IN_FLIGHT + 2)]
        await wait_until(lambda: _all_waiting(holder), 10, "every PATCH on the lock")

        service.send(signal.SIGTERM)
        signalled = time.monotonic()
        async with httpx.AsyncClient(base_url=service.base, timeout=5) as probe:
            readyz = await probe.get("/readyz")  # a new connection, in the drain
        assert readyz.status_code == 503, readyz.text
        assert readyz.headers["content-type"].startswith("application/problem+json")
        assert readyz.headers["retry-after"].isdigit()
        await wait_until(lambda: refuses_connections(service.port), DRAIN_SECONDS + 5,
                         "new connections refused after the drain")
        refused_after = time.monotonic() - signalled
        assert refused_after >= DRAIN_SECONDS - 0.1, refused_after
        assert not any(p.done() for p in patches), "a request ended before the lock did"
        assert service.running, "the process left while requests were in flight"
        await asyncio.sleep(0.3)
        assert service.running and not any(p.done() for p in patches)
    return refused_after  # the lock is released: the requests in flight go on, one by one


async def _all_waiting(holder: asyncpg.Connection) -> bool:
    return await waiting_on_locks(holder) == IN_FLIGHT


def metrics_dir_of(workers: list[int]) -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR as `serve` set it for its workers (their environment)."""
    for pid in workers:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return Path(entry.split(b"=", 1)[1].decode())
    return None


BIGGEST_SAMPLE = "catalog_http_requests_total"
BIGGEST_LABELS = {"method": "GET", "route": "/v1/cities/biggest", "status_class": "2xx"}


def worker_counts(metrics_dir: Path, workers: list[int]) -> dict[int, float]:
    """Each worker's own count of answered GET /v1/cities/biggest, from its own file."""
    counts = {}
    for pid in workers:
        path = metrics_dir / f"counter_{pid}.db"
        families = MultiProcessCollector.merge([str(path)]) if path.exists() else []
        counts[pid] = sum(sample.value for family in families for sample in family.samples
                          if sample.name == BIGGEST_SAMPLE
                          and BIGGEST_LABELS.items() <= sample.labels.items())
    return counts


async def _counted_by(metrics_dir: Path, workers: list[int], sent: int) -> bool:
    return sum(worker_counts(metrics_dir, workers).values()) >= sent


async def test_two_workers_serve_together_add_up_metrics_and_stop_cleanly(
        postgres_server: object, tmp_path: Path) -> None:
    url = await new_pg_database(postgres_server)
    owner = owner_url_of(postgres_server, url)
    env = service_env(url, owner, pool_size=4)
    metrics_dir = None
    with Service(env, tmp_path, workers=2) as service:
        try:
            await service.wait_for("/readyz")
            tenant = await new_tenant(service.base)
            # uvicorn's workers are spawned processes (beside them, multiprocessing's tracker)
            workers = [pid for pid in service.remember_family() if "spawn_main" in cmdline(pid)]
            assert len(workers) == 2, [cmdline(pid) for pid in service.remember_family()]
            metrics_dir = metrics_dir_of(workers)
            assert metrics_dir is not None and metrics_dir.is_dir(), "serve set no metrics dir"
            sent, batches, per_worker = 0, 0, {}
            # Fresh connections, many at once, until both workers have answered some: the
            # kernel hands each connection to whichever worker accepts first, and the second
            # worker may still be starting (bounded by count and by time).
            deadline = time.monotonic() + 20
            while min(per_worker.values(), default=0) == 0 and batches < 100 \
                    and time.monotonic() < deadline:
                batches += 1
                limits = httpx.Limits(max_keepalive_connections=0)
                async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth,
                                             timeout=10, limits=limits) as client:
                    answers = await asyncio.gather(*[
                        client.get("/v1/cities/biggest", params={"limit": 5})
                        for _ in range(16)])
                assert {a.status_code for a in answers} == {200}
                sent += len(answers)
                # a worker counts a request just after answering it: let the counts settle
                await wait_until(lambda: _counted_by(metrics_dir, workers, sent), 5,
                                 "every request counted")
                per_worker = worker_counts(metrics_dir, workers)
                await asyncio.sleep(0.05)
            assert min(per_worker.values()) > 0, f"one worker answered all: {per_worker}"
            # Whichever worker answers /metrics reports what all of them counted.
            for _ in range(4):
                async with httpx.AsyncClient(base_url=service.base, timeout=10) as fresh:
                    text = (await fresh.get("/metrics")).text
                assert metric(text, BIGGEST_SAMPLE, **BIGGEST_LABELS) == sent, (text, sent)
            assert len(await service_connections(owner)) >= 2  # one pool per worker

            signalled = time.monotonic()
            status = await service.stop_gracefully(20)
            stop_seconds = time.monotonic() - signalled
            assert status == 0, service.log()
            assert await service.family_gone(5) == [], "a worker outlived the server"
            assert await until_no_service_connections(owner) == []
            assert not metrics_dir.exists(), "serve left its metrics directory behind"
            print(f"\n2 workers: {sent} requests in {batches} batches of 16, answered "
                  f"{sorted(per_worker.values())} by the workers; /metrics counted all; exit 0 "
                  f"{stop_seconds:.2f} s after SIGTERM")
        finally:
            service.kill()
            if metrics_dir is not None and metrics_dir.name.startswith("catalog-metrics-"):
                shutil.rmtree(metrics_dir, ignore_errors=True)  # if serve was killed
