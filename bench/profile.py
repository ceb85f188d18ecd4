"""Profile the service's read path: `catalog serve` under wrk, sampled by py-spy or pyinstrument.

    python -m bench.profile [--tool py-spy|pyinstrument|both] [--seconds 20] [--mix read]
                            [--rate 200] [--out bench/results/profile-<timestamp>]

The same setup as `python -m bench` (a throwaway PostgreSQL, migrated, seeded, the service as
the app role under RLS with real API keys), one worker, then:

- py-spy: `catalog serve --workers 1` is started as usual, and `py-spy record` attaches to its
  process for `--seconds` while wrk loads it (32 connections, bench/mix.lua). It writes the
  collapsed stacks (`py-spy.txt`: open it in speedscope, or make an SVG with flamegraph.pl)
  and `py-spy-summary.txt`: the share
  of samples under each layer (uvicorn, Starlette/FastAPI, pydantic, the service's middlewares,
  auth, logging, metrics, SQLAlchemy, asyncpg, the event loop …), inclusive, so they overlap.
- pyinstrument: `pyinstrument -c 'from entrypoints.cli import main; main()' serve --workers 1`
  runs the service under
  pyinstrument's sampler for the same load; on SIGTERM uvicorn stops gracefully and pyinstrument
  writes `pyinstrument.txt` (the call tree).

Nothing is written to the repository but `--out` (git-ignored under bench/results). py-spy and
pyinstrument come from PyPI (`pip install py-spy pyinstrument`, see bench/README.md); py-spy
needs to be allowed to ptrace the server (root, or kernel.yama.ptrace_scope=0).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import procstat
from bench.runner import (APP_ROLE, PG_SETTINGS, ROOT, LoadGen, Server, _answers, child_env,
                          find_wrk, free_port, log, prepare_database, snapshot_code)
from bench.seed import PROFILES, write_keys
from tests.support.postgres import PostgresServer, throwaway_postgres

# layers, by the file paths of their frames (a sample counts for every layer on its stack)
LAYERS = [
    ("uvicorn (HTTP parsing, protocol, lifespan)", ("uvicorn/", "httptools", "h11/")),
    ("starlette (routing, requests, responses, middleware stack)", ("starlette/",)),
    ("fastapi (dependency resolution, params, serialisation)", ("fastapi/",)),
    ("pydantic (validation, serialisation)", ("pydantic/", "pydantic_core")),
    ("service middlewares (edge, observability, idempotency)",
     ("entrypoints/http/middleware.py", "entrypoints/http/observability.py",
      "entrypoints/http/idempotency.py")),
    ("auth (bearer token, key cache, key lookup)", ("entrypoints/http/auth.py", "auth")),
    ("service routers and rendering", ("entrypoints/http/routers/", "entrypoints/http/json.py",
                                       "entrypoints/http/rendering.py")),
    ("use cases and domain", ("/domain/", "application/", "usecases")),
    ("transaction module and read models (adapters)", ("adapters/",)),
    ("logging (stdlib logging, JSON lines)", ("logging/", "structlog", "python_json_logger")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("dependency-injector (container)", ("dependency_injector/",)),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("asyncpg (driver, protocol)", ("asyncpg/",)),
    ("orjson / json", ("orjson", "json/")),
    ("asyncio / uvloop event loop", ("asyncio/", "uvloop")),
]


SYSCALLS = ("write (libc", "read (libc", "epoll_pwait (libc", "epoll_wait (libc", "send (libc",
            "recv (libc", "sendto (libc", "recvfrom (libc")
GC = "gc_collect_main"


def summarise(collapsed: Path) -> str:
    """Shares per layer, and the heaviest leaf frames, from py-spy's raw (collapsed) output.

    A sample whose leaf is a socket syscall (only seen with --native) is counted apart: on a
    busy machine a write that wakes PostgreSQL often hands the CPU to it at once, and py-spy
    counts the worker, runnable inside write(), as active meanwhile, though the CPU is not
    its own. The garbage collector (gc_collect_main, --native) is a layer of its own."""
    total = on_cpu = 0
    layers: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    syscalls: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = frames[-1] if frames else "?"
        leaves[leaf] += count
        for name, needles in LAYERS:
            if any(needle in frame for frame in frames for needle in needles):
                layers[name] += count
        if leaf.startswith(SYSCALLS):
            caller = next((f for f in reversed(frames) if ".py:" in f), "?")
            syscalls[f"{leaf.split(' ')[0]} from {caller}"] += count
            continue
        on_cpu += count
        if any(frame.startswith(GC) for frame in frames):
            own["garbage collector (gc_collect_main)"] += count
            continue
        for frame in reversed(frames):  # the innermost layer that owns a frame takes it all
            owner = next((name for name, needles in LAYERS
                          if any(needle in frame for needle in needles)), None)
            if owner is not None:
                own[owner] += count
                break
        else:
            own["(no layer: interpreter, C code)"] += count
    if not total:
        return "no samples\n"
    lines = [f"{total} samples of the worker while active (py-spy)", "",
             "inclusive share of all samples per layer (a sample counts for every layer on its "
             "stack, so shares overlap):"]
    lines += [f"  {layers[name] / total * 100:5.1f}%  {name}" for name, _ in LAYERS]
    lines += ["", f"in socket syscalls (see above): {sum(syscalls.values()) / total * 100:.1f}% "
              "of all samples"]
    lines += [f"  {count / total * 100:5.1f}%  {name}" for name, count in syscalls.most_common(8)]
    lines += ["", f"exclusive share of the other {on_cpu} samples: each to the innermost layer "
              "on its stack (sums to 100%; C code called from Python counts for its caller):"]
    lines += [f"  {count / (on_cpu or 1) * 100:5.1f}%  {name}" for name, count in own.most_common()]
    lines += ["", "heaviest leaf frames (self time, of all samples):"]
    lines += [f"  {count / total * 100:5.1f}%  {leaf}" for leaf, count in leaves.most_common(25)]
    return "\n".join(lines) + "\n"


def start(command: list[str], env: dict[str, str], work: Path, port: int, name: str) -> Server:
    log_path = work / f"{name}.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server("service", 1, port, process, log_path)
    deadline = time.monotonic() + 90
    while (why := _answers(server.url + "/readyz")) is not None:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} not ready ({why}):\n{server.log_tail()}")
        time.sleep(0.3)
    server.remember_pids()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("--tool", choices=("py-spy", "pyinstrument", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of load (20)")
    parser.add_argument("--mix", choices=("read", "mixed", "write"), default="read")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (200)")
    parser.add_argument("--log-level", default="warning",
                        help="CATALOG_LOG_LEVEL of the service (warning, as in python -m bench; "
                        "info adds the JSON access log line of every request)")
    parser.add_argument("--native", action="store_true",
                        help="py-spy --native: C frames too (uvloop, asyncpg's protocol, "
                        "httptools); pauses the worker for each sample, so it costs more")
    parser.add_argument("--out", default=None, help="directory for the outputs "
                        "(bench/results/profile-<timestamp>)")
    args = parser.parse_args(argv)
    out = Path(args.out or ROOT / "bench" / "results"
               / f"profile-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    tools = ["py-spy", "pyinstrument"] if args.tool == "both" else [args.tool]
    bindir = Path(sys.executable).parent
    for tool in tools:
        if not (bindir / tool).exists():
            parser.error(f"{tool} is not installed in {bindir}: "
                         "pip install -c constraints.txt -e '.[profile]'")
    work = Path(tempfile.mkdtemp(prefix="catalog-profile-"))
    code, _ = snapshot_code(work)
    loop = asyncio.new_event_loop()
    try:
        wrk = find_wrk("auto")
        with throwaway_postgres(private=True, settings=PG_SETTINGS) as pg:
            assert isinstance(pg, PostgresServer)
            dsns, seeded, _ = prepare_database(pg, "bench", PROFILES["default"], work, loop,
                                               deep=False)
            keys = work / "keys.txt"
            write_keys(keys, seeded.tokens)
            load = LoadGen(wrk, keys, 32, 1)
            env = child_env(code, CATALOG_DATABASE_URL=dsns["app"], CATALOG_APP_ROLE=APP_ROLE,
                            CATALOG_LOG_LEVEL=args.log_level)
            for tool in tools:
                port = free_port()
                serve = [str(bindir / "catalog"), "serve", "--host", "127.0.0.1", "--port",
                         str(port), "--workers", "1"]
                if tool == "pyinstrument":
                    serve = [str(bindir / "pyinstrument"), "-r", "text", "-o",
                             str(out / "pyinstrument.txt"), "-p", "show_all=false",
                             "-c", "from entrypoints.cli import main; main()", *serve[1:]]
                server = start(serve, env, work, port, tool)
                try:
                    load.run(server.url, args.mix, 2.0)  # warm-up
                    spy = None
                    if tool == "py-spy":
                        pid = procstat.uvicorn_workers(server.pid)[0]
                        spy = subprocess.Popen(
                            [str(bindir / "py-spy"), "record", "--pid", str(pid), "--rate",
                             str(args.rate), "--duration", str(round(args.seconds)),
                             *(["--native"] if args.native else ["--nonblocking"]),
                             "--format", "raw",
                             "--output", str(out / "py-spy.txt")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                        time.sleep(1.0)
                    log(f"{tool}: {args.seconds:g} s of the {args.mix} mix on the service")
                    result, _ = load.run(server.url, args.mix, args.seconds)
                    log(f"  {result['requests'] / (result['duration_us'] / 1e6):.0f} req/s, "
                        f"{result['non2xx']} non-2xx")
                    if spy is not None:
                        spy_out, _ = spy.communicate(timeout=args.seconds + 60)
                        if spy.returncode:
                            raise RuntimeError(f"py-spy failed:\n{spy_out[-2000:]}")
                        summary = summarise(out / "py-spy.txt")
                        (out / "py-spy-summary.txt").write_text(summary)
                        print(summary)
                finally:
                    server.process.send_signal(signal.SIGTERM)
                    try:
                        server.process.wait(60)
                    except subprocess.TimeoutExpired:
                        pass
                    server.stop()
                if tool == "pyinstrument" and (out / "pyinstrument.txt").exists():
                    print((out / "pyinstrument.txt").read_text()[:6000])
    finally:
        loop.close()
        shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
