"""Real processes for the operations tests: `catalog serve`, HAProxy, and bounded HTTP load.

Every process is started here on loopback and stopped by its PID, together with the
processes it started (uvicorn's workers), even when the test fails: use them as context
managers. Every load loop stops at a deadline *and* after a number of requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.databases import APP_ROLE

ROOT = Path(__file__).resolve().parents[2]
CATALOG = str(Path(sys.executable).with_name("catalog"))
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
ADMIN_TOKEN = "ops-admin-token"
APPLICATION_NAME = "tenant-catalog"  # what the service's engine names its connections


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_url(url: str) -> str:
    """`postgresql://…`: the spelling operators write (the service translates it), and the
    one asyncpg.connect takes."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def service_env(database_url: str, owner_url: str, **settings: object) -> dict[str, str]:
    """The environment of a `catalog serve`: ours without any CATALOG_* of the caller's."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CATALOG_") and key != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"CATALOG_DATABASE_URL": plain_url(database_url),
            "CATALOG_MIGRATION_DATABASE_URL": plain_url(owner_url),
            "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN, "CATALOG_LOG_LEVEL": "warning",
            "CATALOG_LOG_FORMAT": "text",
            # load here measures other things: a tenant's rate limit is out of the way unless
            # a test sets it (tests/ops/test_shared_rate_limit.py does)
            "CATALOG_TENANT_RATE": "100000", "CATALOG_TENANT_BURST": "100000"}
    env |= {f"CATALOG_{name.upper()}": str(value) for name, value in settings.items()}
    return env


# --- processes ------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, or None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else (int(fields[1]), fields[19])


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return "?"


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, found by parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


class Process:
    """A child process with its output in a log file; stopped by PID with its descendants."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], directory: Path) -> None:
        self.name = name
        self.log_path = directory / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(argv, env=env, cwd=directory, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.popen.pid
        self._family: dict[int, str] = {}  # descendants seen: pid -> start time

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.kill()

    def log(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").splitlines()
            return f"--- {self.name} log ---\n" + "\n".join(text[-lines:])
        return ""

    def remember_family(self) -> list[int]:
        """Note the processes below this one now, so that kill() finds them even orphaned."""
        for pid in descendants(self.pid):
            if (stat := _stat(pid)) is not None:
                self._family.setdefault(pid, stat[1])
        return list(self._family)

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.running:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def family_alive(self) -> list[int]:
        """The remembered descendants still running (the same processes, not reused PIDs)."""
        return [pid for pid, started in self._family.items()
                if (stat := _stat(pid)) is not None and stat[1] == started]

    async def family_gone(self, timeout: float) -> list[str]:
        """Wait for the remembered descendants to exit; the command lines of those left."""
        deadline = time.monotonic() + timeout
        while (alive := self.family_alive()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return [f"{pid}: {cmdline(pid)}" for pid in alive]

    def kill(self) -> None:
        """SIGKILL this process and every descendant it has or had, by PID; wait for them."""
        if self.running:
            self.remember_family()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        for pid in self.family_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.family_alive() and time.monotonic() < deadline:
            time.sleep(0.02)


class Service(Process):
    """`catalog serve` on 127.0.0.1 and a free port, in `directory` (no stray .env there)."""

    def __init__(self, env: dict[str, str], directory: Path, *, name: str = "catalog",
                 workers: int | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [CATALOG, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--workers", str(workers)] if workers else []
        super().__init__(name, argv, env, directory)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def wait_for(self, path: str, status: int = 200, timeout: float = 30.0) -> None:
        """Poll `path` until it answers `status` (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        last: object = None
        async with httpx.AsyncClient(base_url=self.base, timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.running, f"{self.name} exited ({self.popen.returncode})\n{self.log()}"
                try:
                    last = (await client.get(path)).status_code
                    if last == status:
                        self.remember_family()
                        return
                except httpx.TransportError as error:
                    last = error
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name}: {path} not {status} in {timeout} s (last: {last!r})"
                             f"\n{self.log()}")

    async def stop_gracefully(self, timeout: float) -> int:
        """SIGTERM, then the exit status (without blocking the event loop)."""
        self.send(signal.SIGTERM)
        return await asyncio.to_thread(self.wait, timeout)


def haproxy_binary() -> str:
    for candidate in (shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("`haproxy` is not installed: apt-get install -y haproxy (`./run test` does)")


class HAProxy(Process):
    """HAProxy on deploy/haproxy.cfg, its addresses from the environment, all on loopback."""

    def __init__(self, app1: str, app2: str, directory: Path) -> None:
        self.bind = f"127.0.0.1:{free_port()}"
        self.base = f"http://{self.bind}"
        env = {**os.environ, "HAPROXY_BIND": self.bind, "APP1_ADDR": app1, "APP2_ADDR": app2}
        super().__init__("haproxy", [haproxy_binary(), "-f", str(HAPROXY_CFG)], env, directory)


# --- HTTP ---------------------------------------------------------------------------------


@dataclass
class Tenant:
    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def new_tenant(base: str, prefix: str = "ops") -> Tenant:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post("/v1/tenants",
                                     json={"slug": f"{prefix}-{uuid.uuid4().hex[:12]}"},
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(body["tenant"]["id"], body["api_key"]["key"])


def metric(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples called `sample` whose labels include `labels`."""
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == sample and labels.items() <= s.labels.items())


@dataclass
class Outcome:
    """One request of a load run: when, what, and how it ended (a status or an error)."""

    loop: int
    method: str
    path: str
    started: float
    ended: float = 0.0
    status: int | None = None
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def __str__(self) -> str:
        outcome = self.status if self.error is None else self.error
        return f"{self.method} {self.path} -> {outcome} {str(self.body)[:200]}"


async def send(client: httpx.AsyncClient, loop: int, method: str, path: str,
               **kwargs: Any) -> Outcome:
    """One request, recorded whatever happens (a transport error or timeout included)."""
    outcome = Outcome(loop, method, path, time.monotonic())
    try:
        response = await client.request(method, path, **kwargs)
        outcome.status, outcome.headers = response.status_code, dict(response.headers)
        try:
            outcome.body = response.json()
        except ValueError:
            outcome.body = response.text
    except httpx.HTTPError as error:
        outcome.error = f"{type(error).__name__}: {error}"
    outcome.ended = time.monotonic()
    return outcome


async def mixed_request(client: httpx.AsyncClient, loop: int, count: int) -> Outcome:
    """Every other request creates a city (with its own Idempotency-Key), the rest read."""
    if count % 2 == 0:
        name = f"city-{loop}-{count}-{uuid.uuid4().hex[:8]}"
        return await send(client, loop, "POST", "/v1/cities",
                          json={"name": name, "population": 1000 + count},
                          headers={"Idempotency-Key": str(uuid.uuid4())})
    return await send(client, loop, "GET", "/v1/cities/biggest", params={"limit": 5})


Request = Callable[[httpx.AsyncClient, int, int], Awaitable[Outcome]]


class Load:
    """`loops` concurrent request loops, each ending at `seconds`, after `max_per_loop`
    requests, or on stop(); `pause_after_failure` paces a loop whose request failed."""

    def __init__(self, client: httpx.AsyncClient, loops: int, seconds: float, max_per_loop: int,
                 request: Request = mixed_request, pause_after_failure: float = 0.05) -> None:
        self.client, self.loops, self.seconds = client, loops, seconds
        self.max_per_loop, self.request = max_per_loop, request
        self.pause_after_failure = pause_after_failure
        self.outcomes: list[Outcome] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        deadline = time.monotonic() + self.seconds
        self._tasks = [asyncio.create_task(self._loop(n, deadline)) for n in range(self.loops)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.stop()
        await asyncio.gather(*self._tasks, return_exceptions=exc[0] is not None)

    def stop(self) -> None:
        self._stop.set()

    async def _loop(self, loop: int, deadline: float) -> None:
        for count in range(self.max_per_loop):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            outcome = await self.request(self.client, loop, count)
            self.outcomes.append(outcome)
            if not outcome.ok:
                await asyncio.sleep(self.pause_after_failure)

    def created(self) -> list[str]:
        """The ids of every city acknowledged with a 201."""
        return [o.body["id"] for o in self.outcomes if o.method == "POST" and o.status == 201]


# --- the database, seen by its owner --------------------------------------------------------


async def service_connections(owner_url: str) -> list[str]:
    """The service's sessions on this database (its application name or its role)."""
    connection = await asyncpg.connect(plain_url(owner_url), timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT pid, usename, application_name, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND (application_name = $1 OR usename = $2)", APPLICATION_NAME, APP_ROLE)
    finally:
        await connection.close()
    return [f"{row['pid']} {row['usename']} {row['application_name']} {row['state']}"
            for row in rows]


async def until_no_service_connections(owner_url: str, timeout: float = 5.0) -> list[str]:
    """Poll until the service has no session left (a backend ends a moment after its client
    closes the connection); the sessions still there at the timeout."""
    deadline = time.monotonic() + timeout
    while (left := await service_connections(owner_url)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


async def missing_cities(owner_url: str, tenant_id: str, ids: list[str]) -> set[str]:
    """The ids among `ids` that are not in the tenant's cities (read as the owner, inside
    the tenant, so row-level security lets the rows through even for a non-superuser)."""
    connection = await asyncpg.connect(plain_url(owner_url), timeout=10)
    try:
        await connection.execute("SELECT set_config('app.tenant_id', $1, false)", tenant_id)
        found = await connection.fetch("SELECT id::text FROM cities WHERE id = ANY($1::uuid[])",
                                       ids)
    finally:
        await connection.close()
    return set(ids) - {row["id"] for row in found}


@contextlib.asynccontextmanager
async def row_locked(owner_url: str, table: str, row_id: str) -> Any:
    """Hold a lock on one row (as the owner, from a connection of our own) for the block."""
    connection = await asyncpg.connect(plain_url(owner_url), timeout=10)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(f"SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE", row_id)
        yield connection
        await transaction.rollback()
    finally:
        await connection.close()


async def waiting_on_locks(holder: asyncpg.Connection) -> int:
    """How many of the service's sessions on this database wait for a lock now."""
    await holder.execute("SELECT pg_stat_clear_snapshot()")  # else: one snapshot per transaction
    return int(await holder.fetchval(  # pg_locks: readable without pg_read_all_stats
        "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid IN "
        "(SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = $1)",
        APP_ROLE))


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float,
                     what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {what}"
        await asyncio.sleep(0.05)

