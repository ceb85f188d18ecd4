"""The benchmark: a throwaway PostgreSQL, seeded; the service and the baseline side by side.

`python -m bench --help` lists the options; bench/README.md says what is measured and how.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import procstat, report, steady
from bench.seed import PROFILES, Profile, Seeded, seed, write_keys

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.postgres, and bench.* for uvicorn's workers
from tests.support.postgres import PostgresServer, throwaway_postgres  # noqa: E402

MIXES = {"read": 0.0, "mixed": 0.2, "write": 1.0}
MIX_LABELS = {"read": "100% GET biggest", "mixed": "80/20 GET/POST", "write": "100% POST"}
APP_NAMES = {"service": "tenant-catalog", "baseline": "bench-baseline", "raw": "bench-raw",
             "floor": "bench-floor", "scoped": "bench-scoped"}
# what runs, in the order measured (A B C D, A B C D …): the service, then the three references
KINDS = ("service", "floor", "raw", "baseline")
REFERENCE_APPS = {"baseline": "bench.baseline:app", "raw": "bench.baseline:raw",
                  "floor": "bench.floor:app",
                  "scoped": "bench.baseline:scoped"}  # bench.variants only: 3 round trips
PG_SETTINGS = {
    "shared_buffers": "512MB", "maintenance_work_mem": "512MB", "max_wal_size": "8GB",
    "checkpoint_timeout": "30min", "log_connections": "on",  # new connections, counted per cell
}
READY_TIMEOUT = 60.0
APP_ROLE, APP_PASSWORD = "catalog_app", "catalog-app-test"  # as tests/support/databases.py


def snapshot_code(work: Path) -> tuple[Path, str]:
    """Copy src/ and migrations/ into `work`, so that every process of this run (migrations,
    service, baseline) runs the code as it was at the start, whatever is edited meanwhile.
    Returns the directory and a digest of the copied sources."""
    target = work / "code"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", target / "src", ignore=ignore)
    shutil.copytree(ROOT / "migrations", target / "migrations", ignore=ignore)
    digest = hashlib.sha256()
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    return target, digest.hexdigest()[:12]


def child_env(code: Path, **extra: str) -> dict[str, str]:
    """The environment of every child: no CATALOG_* of the caller's, the snapshot first on the
    path (ahead of the editable install), then the repository (for bench.*)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CATALOG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [
        str(code / "src"), str(code), str(ROOT), env.get("PYTHONPATH")]))
    return env | extra


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- servers ------------------------------------------------------------------------------


@dataclass
class Server:
    """A running `catalog serve` or baseline uvicorn, in its own session, stopped by PID."""

    kind: str  # "service" | "baseline" | "raw" | "floor"
    workers: int
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    pids: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers_pids(self) -> list[int]:
        return procstat.uvicorn_workers(self.pid)

    def remember_pids(self) -> None:
        self.pids |= set(procstat.tree_pids(self.pid))

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM to the master, then SIGKILL to whatever of its tree is left, by PID."""
        if self.process.poll() is None:
            self.remember_pids()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(35)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for pid in sorted(self.pids - {self.pid}):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if procstat.stat(pid) is not None and "python" in procstat.cmdline(pid):
                    os.kill(pid, signal.SIGKILL)


def _answers(url: str) -> str | None:
    """None when `url` answers 200 (a 404 on /readyz falls back to /healthz); else why not."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return None if answer.status == 200 else f"{answer.status}"
    except urllib.error.HTTPError as error:
        if error.code == 404 and url.endswith("/readyz"):
            return _answers(url.removesuffix("/readyz") + "/healthz")
        return f"{error.code} {error.read()[:300]!r}"
    except (OSError, urllib.error.URLError) as error:
        return repr(error)


def start_server(kind: str, workers: int, dsns: dict[str, str], work: Path, log_level: str,
                 key_cache_ttl: float | None = None,
                 extra_env: dict[str, str] | None = None) -> Server:
    """The service (as the app role, under RLS) or a reference (as the owner), on a free port."""
    port = free_port()
    log_path = work / f"{kind}-w{workers}-{port}.log"
    env = child_env(work / "code")
    if kind == "service":
        env |= {"CATALOG_DATABASE_URL": dsns["app"], "CATALOG_LOG_LEVEL": log_level,
                "CATALOG_APP_ROLE": APP_ROLE,  # the tenants' rate limit out of the way here:
                "CATALOG_TENANT_RATE": "100000", "CATALOG_TENANT_BURST": "100000",
                **(extra_env or {})}  # bench.noisy measures the limits
        if key_cache_ttl is not None:
            env["CATALOG_KEY_CACHE_TTL"] = str(key_cache_ttl)
        command = [str(Path(sys.executable).with_name("catalog")), "serve", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers)]
        ready = "/readyz"  # /healthz while the service has no /readyz yet
    else:
        env |= {"BENCH_DATABASE_URL": dsns["owner"], "BENCH_APP_NAME": APP_NAMES[kind]}
        # the same uvicorn settings `catalog serve` uses (entrypoints/cli.py)
        command = [sys.executable, "-m", "uvicorn", REFERENCE_APPS[kind], "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers), "--log-level", log_level,
                   "--proxy-headers", "--no-server-header", "--timeout-graceful-shutdown", "30"]
        ready = "/healthz"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(kind, workers, port, process, log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited at start ({process.returncode}):\n"
                               f"{server.log_tail()}")
        if (why := _answers(server.url + ready)) is None:
            break
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{kind} not ready after {READY_TIMEOUT:.0f} s ({ready}: {why}):"
                               f"\n{server.log_tail()}")
        time.sleep(0.2)
    if workers > 1:  # every worker up, not just the first that answered
        while len(server.workers_pids()) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
    server.remember_pids()
    return server


# --- load ---------------------------------------------------------------------------------


def find_wrk(choice: str) -> str | None:
    """wrk's path; installs Debian's package when missing and root (unless --loadgen python)."""
    if choice == "python":
        return None
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(step, env=env, capture_output=True, timeout=600)
            if (found := shutil.which("wrk")) is not None:
                break
    if found is None and choice == "wrk":
        raise RuntimeError("wrk is not installed and could not be (apt-get install wrk)")
    if found is None:
        log("wrk unavailable: using the Python load generator (bench/pyload.py)")
    return found


@dataclass
class LoadGen:
    wrk: str | None
    keys_file: Path
    connections: int
    threads: int

    @property
    def name(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections}" if self.wrk else (
            f"bench.pyload -c{self.connections}")

    def command(self, url: str, mix: str, duration: float, prefix: str) -> list[str]:
        fraction = str(MIXES[mix])
        if self.wrk:
            return [self.wrk, f"-t{self.threads}", f"-c{self.connections}",
                    f"-d{max(1, round(duration))}s", "--timeout", "10s",
                    "-s", str(Path(__file__).with_name("mix.lua")), url, "--",
                    str(self.keys_file), fraction, prefix]
        return [sys.executable, "-m", "bench.pyload", "--url", url, "--keys", str(self.keys_file),
                "--write-fraction", fraction, "--prefix", prefix,
                "--connections", str(self.connections), "--duration", str(duration)]

    def start(self, url: str, mix: str, duration: float) -> subprocess.Popen[str]:
        prefix = f"{mix[0]}{secrets.token_hex(5)}"
        return subprocess.Popen(self.command(url, mix, duration, prefix), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    @staticmethod
    def finish(process: subprocess.Popen[str], duration: float) -> dict[str, Any]:
        try:
            out, err = process.communicate(timeout=duration + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise RuntimeError("the load generator overran its time") from None
        except BaseException:  # Ctrl-C, SIGTERM: stop it (by its PID) before leaving
            process.kill()
            process.wait()
            raise
        for line in out.splitlines():
            if line.startswith("BENCH_JSON "):
                return json.loads(line[len("BENCH_JSON "):])  # type: ignore[no-any-return]
        raise RuntimeError(f"no result from the load generator ({process.returncode}):\n"
                           f"{out[-2000:]}\n{err[-2000:]}")

    def run(self, url: str, mix: str, duration: float) -> tuple[dict[str, Any], float]:
        """(the load generator's result, its own CPU seconds)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = self.finish(self.start(url, mix, duration), duration)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return result, cpu


# --- the database side --------------------------------------------------------------------


class Database:
    """The throwaway server's numbers: CPU of all its processes, backends, new connections."""

    def __init__(self, server: PostgresServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server, self.loop = server, loop
        self.monitor: asyncpg.Connection | None = None

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def open(self) -> None:
        self.monitor = self.run(asyncpg.connect(
            self.server.url("postgres"), server_settings={"application_name": "bench-monitor"}))

    def close(self) -> None:
        if self.monitor is not None:
            self.run(self.monitor.close())

    def cpu_seconds(self) -> float:
        assert self.server.pid is not None
        return procstat.tree_cpu_seconds(self.server.pid)

    def backends(self, database: str, application: str) -> int:
        assert self.monitor is not None
        return int(self.run(self.monitor.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            database, application)))

    def log_offset(self) -> int:
        with contextlib.suppress(OSError):
            return self.server.log_path.stat().st_size
        return 0

    def connections_since(self, offset: int, database: str, application: str) -> int:
        """Connections authorised since `offset` of the log (log_connections=on)."""
        with open(self.server.log_path, "rb") as log_file:
            log_file.seek(offset)
            text = log_file.read().decode(errors="replace")
        return sum(1 for line in text.splitlines() if "connection authorized" in line
                   and f"database={database}" in line and f"application_name={application}" in line)

    def version(self) -> str:
        assert self.monitor is not None
        return str(self.run(self.monitor.fetchval("SHOW server_version")))


def prepare_database(pg: PostgresServer, name: str, profile: Profile, work: Path,
                     loop: asyncio.AbstractEventLoop, deep: bool
                     ) -> tuple[dict[str, str], Seeded, float]:
    """Create database `name`, migrate it with `catalog db upgrade` as its owner, seed it.

    As in production (and in tests/support/databases.py), the owner migrates and the service
    connects as the app role: no superuser, no BYPASSRLS, so row-level security holds."""
    from tests.support.databases import ensure_app_role
    from tests.support.postgres import blocking

    blocking(ensure_app_role(pg))
    url = pg.create_database(name)
    started = time.monotonic()
    result = subprocess.run([str(Path(sys.executable).with_name("catalog")), "db", "upgrade"],
                            cwd=work, env=child_env(work / "code", CATALOG_DATABASE_URL=url,
                                                    CATALOG_APP_ROLE=APP_ROLE),
                            capture_output=True, text=True, timeout=300)
    if result.returncode:
        raise RuntimeError(f"catalog db upgrade failed:\n{result.stdout}\n{result.stderr}")
    migrate_seconds = time.monotonic() - started

    async def has_schema() -> bool:
        connection = await asyncpg.connect(url)
        try:
            return bool(await connection.fetchval("SELECT to_regclass('cities') IS NOT NULL"))
        finally:
            await connection.close()

    if not loop.run_until_complete(has_schema()):
        raise RuntimeError("catalog db upgrade made no `cities` table")
    seeded = loop.run_until_complete(seed(url, profile, deep=deep))
    app_url = url.replace("postgresql://postgres@", f"postgresql://{APP_ROLE}:{APP_PASSWORD}@", 1)
    return {"owner": url, "app": app_url}, seeded, migrate_seconds


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    db: Database
    load: LoadGen
    cells: list[dict[str, Any]] = field(default_factory=list)
    steady: list[dict[str, Any]] = field(default_factory=list)  # open-loop cells


def measure(ctx: Context, server: Server, mix: str, round_no: int, database: str,
            profile: str) -> dict[str, Any]:
    db, app = ctx.db, APP_NAMES[server.kind]
    backends_before = db.backends(database, app)
    offset = db.log_offset()
    server_cpu0, db_cpu0 = procstat.tree_cpu_seconds(server.pid), db.cpu_seconds()
    busy0 = procstat.system_busy_seconds()
    result, client_cpu = ctx.load.run(server.url, mix, ctx.args.duration)
    busy1 = procstat.system_busy_seconds()
    server_cpu1, db_cpu1 = procstat.tree_cpu_seconds(server.pid), db.cpu_seconds()
    # whatever else ran on the machine meanwhile (other people's tests …): a noise indicator
    other = (busy1 - busy0) - (server_cpu1 - server_cpu0) - (db_cpu1 - db_cpu0) - client_cpu
    backends_after = db.backends(database, app)
    new_connections = db.connections_since(offset, database, app)
    if server.process.poll() is not None:
        raise RuntimeError(f"the {server.kind} died during the run:\n{server.log_tail()}")
    requests = result["requests"]
    seconds = result["duration_us"] / 1e6
    per = 1e6 / requests if requests else 0.0
    rss = {pid: procstat.status_kb(pid, "VmHWM") or 0 for pid in server.workers_pids()}
    errors = result["errors"]
    cell = {
        "target": server.kind, "workers": server.workers, "mix": mix, "round": round_no,
        "profile": profile, "duration_s": round(seconds, 3), "requests": requests,
        "rps": requests / seconds if seconds else 0.0,
        **{f"{name}_ms": result["latency_us"][name] / 1000
           for name in ("p50", "p90", "p99", "mean", "max")},
        "non2xx": result["non2xx"], "socket_errors": sum(errors.values()), "errors": errors,
        "server_cpu_us_per_req": (server_cpu1 - server_cpu0) * per,
        "db_cpu_us_per_req": (db_cpu1 - db_cpu0) * per,
        "client_cpu_us_per_req": client_cpu * per,
        "server_cpu_cores": (server_cpu1 - server_cpu0) / seconds if seconds else 0.0,
        "db_cpu_cores": (db_cpu1 - db_cpu0) / seconds if seconds else 0.0,
        "other_cpu_cores": max(0.0, other / seconds) if seconds else 0.0,
        "peak_rss_mb_per_worker": [round(kb / 1024, 1) for kb in rss.values()],
        "peak_rss_mb": round(max(rss.values(), default=0) / 1024, 1),
        "backends_before": backends_before, "backends_after": backends_after,
        "new_db_connections": new_connections,
    }
    ctx.cells.append(cell)
    log(f"  {profile:>7} w{server.workers} {mix:<5} r{round_no} {server.kind:<8} "
        f"{cell['rps']:8.0f} req/s  p50 {cell['p50_ms']:6.2f} ms  p99 {cell['p99_ms']:7.2f} ms  "
        f"cpu {cell['server_cpu_us_per_req']:5.0f}+{cell['db_cpu_us_per_req']:4.0f} µs  "
        f"non-2xx {cell['non2xx']}  new conns {new_connections}  "
        f"other load {cell['other_cpu_cores']:.2f} cores")
    return cell


def same_answers(ctx: Context, servers: list[Server]) -> None:
    """Every server must give the same bytes for the same `biggest` (checked before loading)."""
    token = ctx.load.keys_file.read_text().split("\n", 1)[0]
    bodies = []
    for server in servers:
        request = urllib.request.Request(server.url + "/v1/cities/biggest?limit=20",
                                         headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                bodies.append((answer.status, answer.read()))
        except urllib.error.HTTPError as error:
            bodies.append((error.code, error.read()))
    if any(body != bodies[0] for body in bodies) or bodies[0][0] != 200:
        raise RuntimeError("the service and the references answer differently:\n"
                           + "\n".join(f"{s.kind}: {b!r:.600}" for s, b in zip(servers, bodies,
                                                                         strict=True)))


def warm_up(ctx: Context, servers: list[Server]) -> None:
    if ctx.args.warmup <= 0:
        return
    for server in servers:
        for mix in ("mixed",):
            result = ctx.load.finish(ctx.load.start(server.url, mix, ctx.args.warmup),
                                     ctx.args.warmup)
            if result["non2xx"] or sum(result["errors"].values()):
                log(f"  warm-up of the {server.kind}: {result['non2xx']} non-2xx, "
                    f"{result['errors']} socket errors")


def run_group(ctx: Context, workers: int, dsns: dict[str, str], database: str, profile: str,
              mixes: list[str], work: Path, *, before: Any = None, after: Any = None) -> None:
    """Start the service and the references with `workers` workers; rounds of A B C D per mix;
    then the open-loop cells at half the service's capacity; stop them."""
    servers: list[Server] = []
    try:
        for kind in KINDS:
            servers.append(start_server(kind, workers, dsns, work, ctx.args.log_level,
                                        ctx.args.key_cache_ttl))
        log(f"{profile} profile, {workers} worker(s): "
            + ", ".join(f"{s.kind} :{s.port}" for s in servers) + "; warming up")
        same_answers(ctx, servers)
        if before is not None:
            before(servers)
        warm_up(ctx, servers)
        for round_no in range(1, ctx.args.rounds + 1):
            for mix in mixes:
                for server in servers:  # A B C D, A B C D, …
                    measure(ctx, server, mix, round_no, database, profile)
        steady.run_open_loop(ctx, servers, database, profile)
        if after is not None:
            after(servers[0])
    finally:
        for server in servers:
            server.stop()


# --- probes -------------------------------------------------------------------------------


def keyset_probe(server: Server, token: str, *, limit: int = 100, pages: int = 1000,
                 repeats: int = 200) -> dict[str, Any]:
    """Walk the deep tenant's cities page by page; then time page 1 against page `pages`."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        return time.perf_counter() - started, answer.status, body

    paths, cursor, walk = [], None, []
    started = time.monotonic()
    for _ in range(pages):
        path = f"/v1/cities?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        elapsed, status, body = get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        page = json.loads(body)
        paths.append(path)
        walk.append(elapsed)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    walk_seconds = time.monotonic() - started
    last_items = len(json.loads(get(paths[-1])[2])["items"])
    first, last = [], []
    for _ in range(repeats):
        first.append(get(paths[0])[0])
        last.append(get(paths[-1])[0])
    connection.close()
    ms = 1000
    result = {
        "limit": limit, "pages": len(paths), "last_page_items": last_items,
        "walk_s": round(walk_seconds, 2), "repeats": repeats,
        "page1_p50_ms": statistics.median(first) * ms,
        "page1_p90_ms": statistics.quantiles(first, n=10)[-1] * ms,
        "last_page_p50_ms": statistics.median(last) * ms,
        "last_page_p90_ms": statistics.quantiles(last, n=10)[-1] * ms,
        "walk_first10_mean_ms": statistics.fmean(walk[:10]) * ms,
        "walk_last10_mean_ms": statistics.fmean(walk[-10:]) * ms,
    }
    result["ratio"] = result["last_page_p50_ms"] / result["page1_p50_ms"]
    log(f"  keyset: {len(paths)} pages of {limit} walked in {walk_seconds:.1f} s; page 1 "
        f"{result['page1_p50_ms']:.2f} ms, page {len(paths)} {result['last_page_p50_ms']:.2f} ms "
        f"(p50 of {repeats}): {result['ratio']:.2f}x")
    return result


def statements_probe(ctx: Context, servers: list[Server], token: str, count: int = 20
                     ) -> dict[str, Any]:
    """SQL statements the database runs per request (each one a round trip with asyncpg).

    Turns log_statement=all on for a moment (ALTER SYSTEM + reload), sends `count` GETs of
    biggest and `count` POSTs one at a time to each server, and counts the statements logged
    while that server alone was being asked."""
    db = ctx.db
    assert db.monitor is not None

    def configure(value: str | None) -> None:
        statement = ("ALTER SYSTEM RESET log_statement" if value is None
                     else f"ALTER SYSTEM SET log_statement = '{value}'")
        db.run(db.monitor.execute(statement))
        db.run(db.monitor.execute("SELECT pg_reload_conf()"))
        time.sleep(0.3)

    def send(server: Server, method: str, n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for _ in range(n):
            body = None
            path = "/v1/cities/biggest?limit=20"
            if method == "POST":
                path = "/v1/cities"
                body = json.dumps({"name": f"s{secrets.token_hex(8)}", "population": 1})
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status >= 300:
                raise RuntimeError(f"{server.kind} {method} {path}: {answer.status}")
        connection.close()

    found: dict[str, Any] = {}
    configure("all")
    try:
        for server in servers:
            for method in ("GET", "POST"):
                send(server, method, 3)  # every backend has seen the reload
                offset = db.log_offset()
                send(server, method, count)
                time.sleep(0.2)
                with open(db.server.log_path, "rb") as log_file:
                    log_file.seek(offset)
                    text = log_file.read().decode(errors="replace")
                statements = sum(1 for line in text.splitlines()
                                 if "LOG:  statement: " in line or "LOG:  execute " in line)
                found.setdefault(server.kind, {})[method] = statements / count
    finally:
        configure(None)
    log("  statements per request: " + ", ".join(
        f"{kind} GET {v['GET']:g} POST {v['POST']:g}" for kind, v in found.items()))
    return found


def soak(ctx: Context, server: Server, seconds: float, database: str) -> dict[str, Any]:
    """The 80/20 mix for `seconds`, sampling each worker's RSS; growth from middle to end."""
    db, app = ctx.db, APP_NAMES[server.kind]
    log(f"  soak: {seconds:.0f} s of the 80/20 mix on the service ({server.workers} worker(s))")
    backends_before, offset = db.backends(database, app), db.log_offset()
    cpu0, db_cpu0 = procstat.tree_cpu_seconds(server.pid), db.cpu_seconds()
    interval = max(1.0, seconds / 120)
    process = ctx.load.start(server.url, "mixed", seconds)
    started = time.monotonic()
    samples: list[tuple[float, dict[int, int]]] = []
    while process.poll() is None and time.monotonic() - started < seconds + 30:
        rss = {pid: procstat.status_kb(pid, "VmRSS") or 0 for pid in server.workers_pids()}
        samples.append((time.monotonic() - started, rss))
        time.sleep(interval)
    result = ctx.load.finish(process, seconds)
    cpu1, db_cpu1 = procstat.tree_cpu_seconds(server.pid), db.cpu_seconds()
    samples = [s for s in samples if s[0] <= seconds]
    middle = min(samples, key=lambda s: abs(s[0] - seconds / 2))
    end = samples[-1]
    growth = {pid: (end[1].get(pid, 0) - kb) / kb * 100 for pid, kb in middle[1].items() if kb}
    requests = result["requests"] or 1
    out = {
        "seconds": seconds, "workers": server.workers, "requests": result["requests"],
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["latency_us"]["p50"] / 1000, "p99_ms": result["latency_us"]["p99"] / 1000,
        "non2xx": result["non2xx"], "socket_errors": sum(result["errors"].values()),
        "server_cpu_us_per_req": (cpu1 - cpu0) * 1e6 / requests,
        "db_cpu_us_per_req": (db_cpu1 - db_cpu0) * 1e6 / requests,
        "rss_mb_middle": {str(pid): round(kb / 1024, 1) for pid, kb in middle[1].items()},
        "rss_mb_end": {str(pid): round(kb / 1024, 1) for pid, kb in end[1].items()},
        "rss_growth_pct": {str(pid): round(g, 2) for pid, g in growth.items()},
        "max_growth_pct": round(max(growth.values(), default=0.0), 2),
        "peak_rss_mb": round(max((procstat.status_kb(p, "VmHWM") or 0)
                                 for p in server.workers_pids()) / 1024, 1),
        "samples": [[round(t, 1), {str(p): kb for p, kb in rss.items()}] for t, rss in samples],
        "backends_before": backends_before, "backends_after": db.backends(database, app),
        "new_db_connections": db.connections_since(offset, database, app),
    }
    log(f"  soak: {out['rps']:.0f} req/s, RSS middle→end growth {out['max_growth_pct']:.2f}%, "
        f"peak {out['peak_rss_mb']} MB")
    return out


# --- the command --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark the service against a bare ASGI baseline "
        "on a throwaway PostgreSQL (see bench/README.md).")
    parser.add_argument("--large", action="store_true",
                        help="10,000 tenants x 1,000 cities (default: 50 x 1,000); also runs "
                        "the read mix on a default-size database for comparison")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per cell (10)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of warm-up per server before measuring (3)")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (1,2)")
    parser.add_argument("--mixes", default="read,mixed,write",
                        help="of read (100%% GET biggest), mixed (80/20), write (100%% POST)")
    parser.add_argument("--rounds", type=int, default=2, help="A B C D rounds per cell (2)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="also run the 80/20 mix this long on the service and report RSS "
                        "growth between the middle and the end (off)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"),
                        help="where to write <timestamp>.md and .json (bench/results)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 2 s cells, 1 s warm-up, 1 round, short keyset probe")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="wrk (installed with apt-get when missing and root) or the Python "
                        "generator (auto: wrk if it can be had)")
    parser.add_argument("--log-level", default="warning",
                        help="uvicorn log level of both servers (CATALOG_LOG_LEVEL) (warning)")
    parser.add_argument("--no-keyset", action="store_true", help="skip the keyset page probe")
    parser.add_argument("--key-cache-ttl", type=float, default=None, metavar="SECONDS",
                        help="seconds the service caches a resolved API key "
                        "(CATALOG_KEY_CACHE_TTL; default: the service's own)")
    steady.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = min(args.duration, 2.0), 1.0, 1
    args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    args.mix_names = [m.strip() for m in args.mixes.split(",") if m.strip()]
    unknown = [m for m in args.mix_names if m not in MIXES]
    if unknown or not args.mix_names:
        parser.error(f"unknown mixes {unknown}; choose from {', '.join(MIXES)}")
    if not args.worker_counts or min(args.worker_counts) < 1:
        parser.error("--workers: positive integers, e.g. 1,2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    wall = time.monotonic()
    profile = PROFILES["large" if args.large else "default"]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="catalog-bench-"))
    _, code_digest = snapshot_code(work)
    loop = asyncio.new_event_loop()
    meta: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"), "profile": profile.name,
        "tenants": profile.tenants, "cities_per_tenant": profile.cities_per_tenant,
        "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
        "workers": args.worker_counts, "mixes": args.mix_names, "connections": args.connections,
        "log_level": args.log_level, "quick": args.quick, "machine": machine(),
        "key_cache_ttl": args.key_cache_ttl,
        "commit": commit_id(), "code_digest": code_digest,
    }
    probes: dict[str, Any] = {}
    previous_term = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        wrk = find_wrk(args.loadgen)
        with throwaway_postgres(private=True, settings=PG_SETTINGS) as pg:
            assert isinstance(pg, PostgresServer)
            log(f"PostgreSQL on 127.0.0.1:{pg.port}; migrating and seeding {profile.tenants} "
                f"tenants x {profile.cities_per_tenant} cities")
            dsns, seeded, migrate_s = prepare_database(pg, "bench", profile, work, loop,
                                                       deep=True)
            log(f"seeded {seeded.cities:,} cities in {seeded.seconds:.1f} s "
                f"(migrations {migrate_s:.1f} s)")
            meta |= {"seed_s": round(seeded.seconds, 1), "migrate_s": round(migrate_s, 1),
                     "cities_seeded": seeded.cities}
            keys_file = work / "keys.txt"
            write_keys(keys_file, seeded.tokens)
            db = Database(pg, loop)
            db.open()
            ctx = Context(args, db, LoadGen(wrk, keys_file, args.connections, args.threads))
            meta |= {"postgres": db.version(), "loadgen": ctx.load.name}
            try:
                for index, workers in enumerate(args.worker_counts):
                    def extras(service: Server, first: bool = index == 0) -> None:
                        if not first:
                            return
                        if not args.no_keyset and seeded.deep_token:
                            probes["keyset"] = keyset_probe(
                                service, seeded.deep_token, repeats=50 if args.quick else 200)
                        if args.soak > 0:
                            probes["soak"] = soak(ctx, service, args.soak, "bench")

                    def statements(servers: list[Server], first: bool = index == 0) -> None:
                        if first:
                            probes["statements"] = statements_probe(ctx, servers,
                                                                    seeded.tokens[0])

                    run_group(ctx, workers, dsns, "bench", profile.name, args.mix_names, work,
                              before=statements, after=extras)
                if args.large:
                    log("the default profile, for the large/default read comparison")
                    ref_dsns, ref_seeded, _ = prepare_database(
                        pg, "bench_default", PROFILES["default"], work, loop, deep=False)
                    write_keys(keys_file, ref_seeded.tokens)
                    run_group(ctx, args.worker_counts[0], ref_dsns, "bench_default", "default",
                              ["read"], work)
            finally:
                db.close()
        meta["wall_s"] = round(time.monotonic() - wall, 1)
        results = report.build(meta, ctx.cells, probes | {"open_loop": ctx.steady})
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        loop.close()
        shutil.rmtree(work, ignore_errors=True)
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    markdown = report.markdown(results)
    (out_dir / f"{stamp}.md").write_text(markdown)
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown)
    log(f"wrote {out_dir / stamp}.md and .json in {meta['wall_s']:.0f} s")
    return 0


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release()}


def commit_id() -> str | None:
    """The checked-out commit, read from .git (no git command is run)."""
    with contextlib.suppress(OSError):
        head = (ROOT / ".git" / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        path = ROOT / ".git" / ref
        if path.exists():
            return path.read_text().strip()
        packed = ROOT / ".git" / "packed-refs"
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    return None
