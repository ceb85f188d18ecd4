"""Open-loop cells: every server at one fixed request rate, half the service's own capacity.

Run by bench/runner.py after a worker count's closed-loop rounds: the rate is
`--open-fraction` (0.5) of the service's median req/s in this group's read cells (the first
measured mix when `read` is not run), and every server (the service and the three references)
gets the same rate of `GET /v1/cities/biggest` from bench/openloop.py for `--open-duration`
seconds. Latency there is measured from each request's due time, so p99 and p99.9 say what a
client at a steady, sustainable rate sees, rather than how the scheduler shares 2 cores at
saturation.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from typing import Any

from bench import procstat


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--open-fraction", type=float, default=0.5,
                        help="open-loop rate as a fraction of the service's measured read "
                        "capacity (0.5; 0 turns the open-loop cells off)")
    parser.add_argument("--open-duration", type=float, default=None,
                        help="seconds per open-loop cell (default: --duration)")


def capacity(cells: list[dict[str, Any]], workers: int, profile: str) -> tuple[str, float]:
    """(mix, median req/s) of the service's closed-loop cells of this group: read if run."""
    mine = [c for c in cells if c["target"] == "service" and c["workers"] == workers
            and c["profile"] == profile]
    mixes = [c["mix"] for c in mine]
    mix = "read" if "read" in mixes else mixes[0]
    return mix, statistics.median(c["rps"] for c in mine if c["mix"] == mix)


def command(url: str, keys: str, rate: float, duration: float, connections: int) -> list[str]:
    return [sys.executable, "-m", "bench.openloop", "--url", url, "--keys", keys,
            "--rate", f"{rate:.1f}", "--duration", str(duration),
            "--connections", str(connections)]


def run_one(args: list[str], duration: float) -> tuple[dict[str, Any], float]:
    """(the client's BENCH_JSON result, its own CPU seconds); bounded by duration + 40 s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=duration + 40)
    except BaseException:
        process.kill()
        process.wait()
        raise
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            return json.loads(line[len("BENCH_JSON "):]), cpu
    raise RuntimeError(f"no result from bench.openloop ({process.returncode}):\n"
                       f"{out[-2000:]}\n{err[-2000:]}")


def run_open_loop(ctx: Any, servers: list[Any], database: str, profile: str) -> None:
    """Every server of the group at the same fixed rate; cells appended to ctx.steady."""
    args = ctx.args
    if args.open_fraction <= 0 or not servers:
        return
    workers = servers[0].workers
    mix, measured = capacity(ctx.cells, workers, profile)
    rate = max(1.0, measured * args.open_fraction)
    duration = args.open_duration or args.duration
    from bench.runner import log

    log(f"  open loop: {rate:.0f} req/s ({args.open_fraction:g} x the service's {measured:.0f} "
        f"req/s, {mix}) for {duration:g} s on each server")
    for server in servers:
        cpu0 = procstat.tree_cpu_seconds(server.pid)
        busy0 = procstat.system_busy_seconds()
        db_cpu0 = ctx.db.cpu_seconds()
        result, client_cpu = run_one(command(server.url, str(ctx.load.keys_file), rate, duration,
                                             args.connections), duration)
        busy1 = procstat.system_busy_seconds()
        cpu1, db_cpu1 = procstat.tree_cpu_seconds(server.pid), ctx.db.cpu_seconds()
        seconds = result["duration_us"] / 1e6 or 1.0
        requests = result["requests"] or 1
        other = (busy1 - busy0) - (cpu1 - cpu0) - (db_cpu1 - db_cpu0) - client_cpu
        latency = result["latency_us"]
        cell = {
            "target": server.kind, "workers": workers, "profile": profile, "mix": "read",
            "rate": rate, "capacity_mix": mix, "capacity_rps": measured,
            "scheduled": result["scheduled"], "requests": result["requests"],
            "achieved_rps": result["achieved_rate"], "late_starts": result["late_starts"],
            "late_ms": result["late_ms"], "start_lag_us": result["start_lag_us"],
            **{f"{name}_ms": latency[name] / 1000
               for name in ("p50", "p90", "p99", "p999", "mean", "max")},
            "non2xx": result["non2xx"], "socket_errors": sum(result["errors"].values()),
            "errors": result["errors"],
            "server_cpu_us_per_req": (cpu1 - cpu0) * 1e6 / requests,
            "server_cpu_cores": (cpu1 - cpu0) / seconds,
            "other_cpu_cores": max(0.0, other / seconds),
            "peak_rss_mb": round(max((procstat.status_kb(p, "VmHWM") or 0)
                                     for p in server.workers_pids()) / 1024, 1),
        }
        ctx.steady.append(cell)
        log(f"  {profile:>7} w{workers} open  {server.kind:<8} {cell['achieved_rps']:6.0f} "
            f"req/s  p50 {cell['p50_ms']:6.2f}  p99 {cell['p99_ms']:6.2f}  p99.9 "
            f"{cell['p999_ms']:6.2f} ms  late {cell['late_starts']}  non-2xx {cell['non2xx']}  "
            f"cpu {cell['server_cpu_us_per_req']:.0f} µs  other load "
            f"{cell['other_cpu_cores']:.2f} cores")
