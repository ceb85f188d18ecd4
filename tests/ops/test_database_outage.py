"""PostgreSQL stopped and started again under bounded load, against a real `catalog serve`:
requests during the outage get 503 with Retry-After (no hang, no 500), /readyz is 503 while
the database is down, the service recovers by itself within 5 s of the database returning,
and every acknowledged write is present afterwards. And /readyz follows the migrations.

The server here is a private one (it is halted), never the session's shared server. At the
stop, the service's sessions are frozen for a moment first, so that requests are reliably
caught in the middle of a transaction (a ROLLBACK or COMMIT sent and never answered), as
happens now and then without the freeze."""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import new_pg_database, owner_url_of
from tests.ops.harness import (APPLICATION_NAME, CATALOG, Load, Outcome, Service,
                               missing_cities, new_tenant, plain_url, send, service_env)
from tests.support.databases import APP_ROLE
from tests.support.postgres import PostgresServer, throwaway_postgres

LOOPS = 6
MAX_PER_LOOP = 2000      # with LOAD_SECONDS: every loop ends by count or by time
LOAD_SECONDS = 15.0      # the longest the load may run; it is stopped once recovery is seen
BEFORE_OUTAGE = 1.0
FREEZE_SECONDS = 0.3     # the service's sessions are frozen this long before the stop
OUTAGE_SECONDS = 2.0
AFTER_RECOVERY = 0.5
RECOVERY_LIMIT = 5.0     # seconds from the database's return to the service answering again
CONSECUTIVE = 10         # answers in a row that count as recovered
CLIENT_TIMEOUT = 20.0    # well above the pool, statement and readiness timeouts below
SERVICE_TIMEOUTS = {"pool_timeout": 2, "statement_timeout_ms": 3000, "lock_timeout_ms": 2000,
                    "readiness_timeout": 1}


@pytest.fixture(scope="module")
def private_server() -> Iterator[PostgresServer]:
    with throwaway_postgres(private=True) as server:
        assert isinstance(server, PostgresServer)
        yield server


def recovery_seconds(outcomes: list[Outcome], since: float, run: int) -> float | None:
    """From `since` to the end of the first of `run` consecutive 2xx answers (in the order
    they ended) to requests sent after `since`; None if there is no such run yet."""
    after = sorted((o for o in outcomes if o.started >= since), key=lambda o: o.ended)
    streak = 0
    for index, outcome in enumerate(after):
        streak = streak + 1 if outcome.ok else 0
        if streak == run:
            return after[index - run + 1].ended - since
    return None


async def probe_readiness(client: httpx.AsyncClient, probes: list[Outcome],
                          stop: asyncio.Event) -> None:
    for _ in range(1000):  # every 0.1 s, bounded by count and by the load's end
        if stop.is_set():
            return
        probes.append(await send(client, -1, "GET", "/readyz"))
        await asyncio.sleep(0.1)


def _status_of(server: PostgresServer) -> str:
    with contextlib.suppress(OSError, IndexError):
        return (server.data_dir / "postmaster.pid").read_text().splitlines()[7].strip()
    return ""


def _signal_all(pids: list[int], sig: int) -> list[int]:
    done = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            done.append(pid)
    return done


async def _freeze_between_statements(watcher: asyncpg.Connection, tries: int = 500,
                                     seconds: float = 8.0) -> tuple[list[int], int, int]:
    """SIGSTOP (by PID) every session of the service, at a moment when one of them is 'idle
    in transaction' after reading cities: the service holds the rows and its ROLLBACK is on
    its way (others may be between a write and its COMMIT). Bounded by count and by time.
    Returns the frozen PIDs, how many were between two statements, and the number of tries."""
    deadline = time.monotonic() + seconds
    for attempt in range(1, tries + 1):
        rows = await watcher.fetch(_SESSIONS, APPLICATION_NAME, APP_ROLE, timeout=5)
        frozen = _signal_all([row["pid"] for row in rows], signal.SIGSTOP)
        try:
            await watcher.execute("SELECT pg_stat_clear_snapshot()", timeout=5)
            rows = await watcher.fetch(_SESSIONS, APPLICATION_NAME, APP_ROLE, timeout=5)
        except BaseException:
            _signal_all(frozen, signal.SIGCONT)
            raise
        between = [row["query"] for row in rows
                   if row["state"] == "idle in transaction" and row["pid"] in frozen]
        if any(_reads_cities(query) for query in between):
            return frozen, len(between), attempt
        _signal_all(frozen, signal.SIGCONT)
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.005)
    raise AssertionError(f"no request was between reading cities and its ROLLBACK in "
                         f"{attempt} tries")


def _reads_cities(query: str) -> bool:
    return query.lstrip().upper().startswith("SELECT") and "FROM CITIES" in query.upper()


_SESSIONS = ("SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() "
             "AND pid <> pg_backend_pid() AND (application_name = $1 OR usename = $2)")


def _status_of(server: PostgresServer) -> str:
    with contextlib.suppress(OSError, IndexError):
        return (server.data_dir / "postmaster.pid").read_text().splitlines()[7].strip()
    return ""


@dataclass
class Stop:
    frozen: int          # the service's sessions frozen for the stop
    between: int         # of which inside a transaction, between two statements
    tries: int
    thawed: float        # when they were let go (and died of the shutdown)


async def halt_catching_requests(server: PostgresServer, owner_url: str) -> Stop:
    """Stop the server (fast shutdown, by its PID) with requests caught at every step of a
    transaction: the service's sessions are frozen first (SIGSTOP, by PID) at a moment when
    some of them are between two statements, so that BEGINs, queries, COMMITs and ROLLBACKs
    are sent and never answered; the sessions die of the shutdown's SIGTERM without reading
    them. Without the freeze this happens too, but only now and then."""
    watcher = await asyncpg.connect(plain_url(owner_url), timeout=10)
    try:
        frozen, between, tries = await _freeze_between_statements(watcher)
    finally:
        await watcher.close()
    try:
        await asyncio.sleep(FREEZE_SECONDS)
        halting = asyncio.create_task(asyncio.to_thread(server.halt))
        deadline = time.monotonic() + 5  # until the postmaster has signalled every session
        while _status_of(server) != "stopping" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    finally:
        _signal_all(frozen, signal.SIGCONT)
        thawed = time.monotonic()
    await halting
    return Stop(len(frozen), between, tries, thawed)


async def test_outage_answers_503_then_recovers_and_keeps_every_write(
        private_server: PostgresServer, tmp_path: Path) -> None:
    url = await new_pg_database(private_server)
    owner = owner_url_of(private_server, url)
    env = service_env(url, owner, **SERVICE_TIMEOUTS)
    probes: list[Outcome] = []
    with Service(env, tmp_path) as service:
        await service.wait_for("/readyz")
        tenant = await new_tenant(service.base)
        stop_probing = asyncio.Event()
        try:
            async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth,
                                         timeout=CLIENT_TIMEOUT,
                                         limits=httpx.Limits(max_connections=LOOPS)) as client, \
                    httpx.AsyncClient(base_url=service.base, timeout=CLIENT_TIMEOUT) as prober:
                probing = asyncio.create_task(probe_readiness(prober, probes, stop_probing))
                async with Load(client, LOOPS, LOAD_SECONDS, MAX_PER_LOOP) as load:
                    await asyncio.sleep(BEFORE_OUTAGE)
                    halting = time.monotonic()
                    stop = await halt_catching_requests(private_server, owner)
                    halted = time.monotonic()
                    await asyncio.sleep(OUTAGE_SECONDS)
                    starting = time.monotonic()
                    await asyncio.to_thread(private_server.start)
                    back = time.monotonic()
                    recovered = None
                    while recovered is None and time.monotonic() < back + RECOVERY_LIMIT + 3:
                        await asyncio.sleep(0.05)
                        recovered = recovery_seconds(load.outcomes, back, CONSECUTIVE)
                    await asyncio.sleep(AFTER_RECOVERY)
                    load.stop()
                stop_probing.set()
                await probing
        finally:
            stop_probing.set()
            if not private_server.running:
                private_server.start()  # for the next test, whatever happened here
        assert service.running, service.log()
        log = service.log_path.read_text()

    outcomes = load.outcomes
    errors = [str(o) for o in outcomes if o.error is not None]
    assert errors == [], f"client errors or timeouts: {errors[:10]}"
    assert {o.status for o in outcomes} <= {200, 201, 503}, \
        [str(o) for o in outcomes if o.status not in (200, 201, 503)][:10]
    for crash in ("unhandled error", "Exception in ASGI application"):
        assert crash not in log, log[log.index(crash):][:5000]
    unavailable = [o for o in outcomes if o.status == 503]
    for outcome in unavailable:
        assert outcome.headers.get("retry-after", "").isdigit(), outcome
        assert outcome.headers["content-type"].startswith("application/problem+json"), outcome
        assert outcome.body["status"] == 503, outcome
    caught = [o for o in outcomes if o.started < stop.thawed < o.ended]  # held by the freeze
    assert caught, "no request was caught in the stop"
    during = [o for o in outcomes if o.started >= halted and o.ended <= starting]
    assert during and all(o.status == 503 for o in during), [str(o) for o in during][:10]
    slowest_503 = max(o.ended - o.started for o in unavailable)
    assert slowest_503 < SERVICE_TIMEOUTS["pool_timeout"] + 2, slowest_503

    assert recovered is not None and recovered < RECOVERY_LIMIT, \
        f"not recovered within {RECOVERY_LIMIT} s of the database's return\n{log[-3000:]}"
    settled = back + recovered
    late = [str(o) for o in outcomes if o.started >= settled and not o.ok]
    assert late == [], f"failures after recovery: {late[:10]}"

    assert {p.status for p in probes} <= {200, 503}, [str(p) for p in probes if p.error][:5]
    down = [p for p in probes if p.started >= halted and p.ended <= starting]
    assert down and all(p.status == 503 for p in down), [str(p) for p in down]
    ready_again = [p.ended - back for p in probes if p.started >= back and p.status == 200]
    assert ready_again and ready_again[0] < RECOVERY_LIMIT, ready_again[:3]

    created = load.created()
    assert created and await missing_cities(owner, tenant.id, created) == set()
    first_ok = min(o.ended - back for o in outcomes if o.started >= back and o.ok)
    print(f"\noutage: {len(outcomes)} requests, {len(unavailable)} answered 503 "
          f"({len(during)} sent and answered while the database was down; {len(caught)} caught "
          f"in flight by the stop: {stop.frozen} sessions frozen, {stop.between} of them "
          f"between statements, after {stop.tries} tries; slowest 503 "
          f"{slowest_503 * 1000:.0f} ms); freeze and halt took {halted - halting:.2f} s, start "
          f"{back - starting:.2f} s; first 2xx {first_ok:.2f} s and {CONSECUTIVE} in a row "
          f"{recovered:.2f} s after the database was back; /readyz 200 again after "
          f"{ready_again[0]:.2f} s; {len(created)} acknowledged writes all present")


async def test_readyz_is_503_until_the_schema_is_migrated(
        private_server: PostgresServer, tmp_path: Path) -> None:
    url = await new_pg_database(private_server, migrated=False)
    env = service_env(url, owner_url_of(private_server, url))
    with Service(env, tmp_path) as service:
        await service.wait_for("/healthz")
        async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
            before = await client.get("/readyz")
            assert before.status_code == 503, before.text
            assert before.headers["content-type"].startswith("application/problem+json")
            assert before.headers["retry-after"].isdigit()
            assert "catalog db upgrade" in before.json()["detail"]
            migrated = await asyncio.to_thread(
                subprocess.run, [CATALOG, "db", "upgrade"], env=env, cwd=tmp_path,
                capture_output=True, text=True, timeout=60)
            assert migrated.returncode == 0, migrated.stderr
            after = await client.get("/readyz")
            assert after.status_code == 200, after.text
