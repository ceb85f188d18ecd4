"""The service against itself: the same load on variants of it, alternating round by round.

    python -m bench.variants --variant NAME[@REV][:VAR=VALUE,...] [--variant …] \
        [--mix read] [--workers 1] [--rounds 3] [--duration 6] [--warmup 2] \
        [--references floor,raw] [--open-rate REQ_S] [--open-duration S] [--log-level warning]

Each variant is one `catalog serve` with its own environment (`:CATALOG_GC_FREEZE=false,…`)
and its own code: the working tree as it is at the start (the default), or a git revision
(`@HEAD~1`, `@main`) exported with `git archive`. The same throwaway PostgreSQL, migrations,
seed and app role as `python -m bench`; `--references` adds the FastAPI floor and/or the raw
ASGI limit to each round. Every round measures each variant in turn (A B C, A B C …) under wrk
at 32 connections, so the machine's other load falls on every variant alike; with
`--open-rate`, each round also sends every variant the same fixed rate (bench/openloop.py).

Printed and written to `bench/results/variants-<timestamp>.md` and `.json`: per variant the
median and range of req/s and server CPU µs per request, and the median of the per-round
ratios to the first variant (CPU and req/s), then the open-loop p50/p99/p99.9.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procstat, steady
from bench.runner import (PG_SETTINGS, ROOT, Context, Database, LoadGen, Server, commit_id,
                          find_wrk, log, measure, prepare_database, snapshot_code, start_server)
from bench.seed import PROFILES, write_keys
from tests.support.postgres import PostgresServer, throwaway_postgres


@dataclass
class Variant:
    """One service to measure: a name, a code revision (None: the working tree), settings."""

    name: str
    revision: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """`NAME[@REV][:VAR=VALUE,VAR=VALUE]` (a value may hold commas: `T=5,2,VAR=x`)."""
        head, _, settings = spec.partition(":")
        name, _, revision = head.partition("@")
        env = {}
        for pair in filter(None, re.split(r",(?=[A-Za-z_][A-Za-z0-9_]*=)", settings)):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise argparse.ArgumentTypeError(f"{pair!r}: settings are VAR=VALUE")
            env[key.strip()] = value.strip()
        if not name:
            raise argparse.ArgumentTypeError(f"{spec!r}: a variant needs a name")
        return cls(name, revision or None, env)


def export_revision(revision: str, work: Path) -> None:
    """`src/` and `migrations/` of `revision` into `work/code` (as snapshot_code does)."""
    target = work / "code"
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src", "migrations"],
                             capture_output=True, check=True, timeout=60)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True,
                   timeout=60)


def summarise(cells: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    first = names[0]
    by_round = {(c["variant"], c["round"]): c for c in cells}
    rows = []
    for name in names:
        mine = [c for c in cells if c["variant"] == name]
        cpu = [c["server_cpu_us_per_req"] for c in mine]
        rps = [c["rps"] for c in mine]
        cpu_ratio = [c["server_cpu_us_per_req"] / by_round[(first, c["round"])]
                     ["server_cpu_us_per_req"] for c in mine if (first, c["round"]) in by_round]
        rps_ratio = [c["rps"] / by_round[(first, c["round"])]["rps"] for c in mine
                     if (first, c["round"]) in by_round]
        rows.append({
            "variant": name, "rounds": len(mine),
            "rps": statistics.median(rps), "rps_range": [min(rps), max(rps)],
            "cpu_us": statistics.median(cpu), "cpu_range": [min(cpu), max(cpu)],
            "p99_ms": statistics.median(c["p99_ms"] for c in mine),
            "cpu_x_first": statistics.median(cpu_ratio),
            "cpu_x_first_range": [min(cpu_ratio), max(cpu_ratio)],
            "rps_x_first": statistics.median(rps_ratio),
            "rps_x_first_range": [min(rps_ratio), max(rps_ratio)],
            "peak_rss_mb": max(c["peak_rss_mb"] for c in mine),
            "non2xx": sum(c["non2xx"] + c["socket_errors"] for c in mine),
            "other_load": statistics.median(c["other_cpu_cores"] for c in mine),
        })
    return rows


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]], open_rows: list[dict[str, Any]]
             ) -> str:
    lines = [f"# Variants ({meta['started_at']}, commit {meta['commit']}, {meta['mix']}, "
             f"{meta['workers']} worker(s), {meta['rounds']} rounds of {meta['duration']:g} s, "
             f"{meta['loadgen']})", ""]
    for variant in meta["variants"]:
        lines.append(f"- `{variant['name']}`: code {variant['revision'] or 'working tree'}; "
                     + (", ".join(f"{k}={v}" for k, v in variant["env"].items()) or "defaults"))
    lines += ["", "| variant | req/s (range) | server CPU µs/req (range) | CPU x first (range) "
              "| req/s x first (range) | p99 ms | peak RSS MB | non-2xx | other load |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['rps']:,.0f} ({r['rps_range'][0]:,.0f}–{r['rps_range'][1]:,.0f})"
            f" | {r['cpu_us']:,.0f} ({r['cpu_range'][0]:,.0f}–{r['cpu_range'][1]:,.0f}) | "
            f"{r['cpu_x_first']:.2f} ({r['cpu_x_first_range'][0]:.2f}–"
            f"{r['cpu_x_first_range'][1]:.2f}) | {r['rps_x_first']:.2f} "
            f"({r['rps_x_first_range'][0]:.2f}–{r['rps_x_first_range'][1]:.2f}) | "
            f"{r['p99_ms']:.1f} | {r['peak_rss_mb']:.1f} | {r['non2xx']} | {r['other_load']:.2f} |")
    if open_rows:
        lines += ["", f"Open loop at {meta['open_rate']:g} req/s, {meta['open_duration']:g} s "
                      "per cell (medians over rounds; worst p99 in brackets):", "",
                  "| variant | p50 ms | p99 ms (worst) | p99.9 ms | late starts | "
                  "answered/scheduled | server CPU µs/req |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name in [v["name"] for v in meta["variants"]] + meta["references"]:
            mine = [c for c in open_rows if c["variant"] == name]
            if not mine:
                continue
            med = {k: statistics.median(c[k] for c in mine)
                   for k in ("p50_ms", "p99_ms", "p999_ms", "late_starts",
                             "server_cpu_us_per_req")}
            lines.append(
                f"| {name} | {med['p50_ms']:.2f} | {med['p99_ms']:.2f} "
                f"({max(c['p99_ms'] for c in mine):.2f}) | {med['p999_ms']:.2f} | "
                f"{med['late_starts']:.0f} | {sum(c['requests'] for c in mine)}/"
                f"{sum(c['scheduled'] for c in mine)} | {med['server_cpu_us_per_req']:,.0f} |")
    return "\n".join(lines) + "\n"


def open_cell(server: Server, ctx: Context, rate: float, duration: float) -> dict[str, Any]:
    cpu0 = procstat.tree_cpu_seconds(server.pid)
    result, _ = steady.run_one(steady.command(server.url, str(ctx.load.keys_file), rate,
                                              duration, ctx.args.connections), duration)
    cpu1 = procstat.tree_cpu_seconds(server.pid)
    latency = result["latency_us"]
    return {"scheduled": result["scheduled"], "requests": result["requests"],
            "late_starts": result["late_starts"], "non2xx": result["non2xx"],
            **{f"{k}_ms": latency[k] / 1000 for k in ("p50", "p99", "p999", "max")},
            "server_cpu_us_per_req": (cpu1 - cpu0) * 1e6 / max(1, result["requests"])}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.variants",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", dest="variants", action="append", type=Variant.parse,
                        required=True, help="NAME[@REV][:VAR=VALUE,...] (at least one)")
    parser.add_argument("--mix", default="read", choices=("read", "mixed", "write"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per server, first")
    parser.add_argument("--references", default="",
                        help="comma-separated, of floor, raw, baseline, scoped (the baseline "
                        "with the service's three round trips): measured in each round")
    parser.add_argument("--open-rate", type=float, default=0.0,
                        help="req/s of an open-loop cell per variant and round (0: none)")
    parser.add_argument("--open-duration", type=float, default=None,
                        help="seconds per open-loop cell (default: --duration)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--log-level", default="warning", help="CATALOG_LOG_LEVEL of every "
                        "variant unless its own settings say otherwise (warning)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    names = [v.name for v in args.variants]
    if len(set(names)) != len(names):
        parser.error("variant names must differ")
    args.reference_names = [r for r in args.references.split(",") if r.strip()]
    if unknown := set(args.reference_names) - {"floor", "raw", "baseline", "scoped"}:
        parser.error(f"unknown references {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="catalog-variants-"))
    snapshot_code(work)
    loop = asyncio.new_event_loop()
    servers: dict[str, Server] = {}
    cells: list[dict[str, Any]] = []
    open_cells: list[dict[str, Any]] = []
    try:
        homes = {}
        for variant in args.variants:
            home = work / f"variant-{variant.name}"
            if variant.revision:
                export_revision(variant.revision, home)
            else:
                home.mkdir()
                shutil.copytree(work / "code", home / "code")
            homes[variant.name] = home
        wrk = find_wrk(args.loadgen)
        with throwaway_postgres(private=True, settings=PG_SETTINGS) as pg:
            assert isinstance(pg, PostgresServer)
            dsns, seeded, _ = prepare_database(pg, "bench", PROFILES["default"], work, loop,
                                               deep=False)
            keys = work / "keys.txt"
            write_keys(keys, seeded.tokens)
            db = Database(pg, loop)
            db.open()
            try:
                run_args = argparse.Namespace(duration=args.duration,
                                              connections=args.connections)
                ctx = Context(run_args, db, LoadGen(wrk, keys, args.connections, 1))
                for variant in args.variants:
                    servers[variant.name] = start_server(
                        "service", args.workers, dsns, homes[variant.name], args.log_level,
                        extra_env=variant.env)
                for name in args.reference_names:
                    servers[name] = start_server(name, args.workers, dsns, work, args.log_level)
                log("variants: " + ", ".join(f"{n} :{s.port}" for n, s in servers.items()))
                for server in servers.values():
                    ctx.load.run(server.url, "mixed", args.warmup)
                for round_no in range(1, args.rounds + 1):
                    for name, server in servers.items():
                        cell = measure(ctx, server, args.mix, round_no, "bench", name)
                        cells.append(cell | {"variant": name})
                    if args.open_rate > 0:
                        duration = args.open_duration or args.duration
                        for name, server in servers.items():
                            cell = open_cell(server, ctx, args.open_rate, duration)
                            log(f"  open {name:<12} p50 {cell['p50_ms']:6.2f}  p99 "
                                f"{cell['p99_ms']:6.2f}  p99.9 {cell['p999_ms']:6.2f} ms  "
                                f"late {cell['late_starts']}  cpu "
                                f"{cell['server_cpu_us_per_req']:.0f} µs")
                            open_cells.append(cell | {"variant": name, "round": round_no})
            finally:
                for server in servers.values():
                    server.stop()
                db.close()
    finally:
        for server in servers.values():
            server.stop()
        loop.close()
        shutil.rmtree(work, ignore_errors=True)
    names = list(servers)
    meta = {"started_at": started_at.isoformat(timespec="seconds"), "commit": commit_id(),
            "mix": args.mix, "workers": args.workers, "rounds": args.rounds,
            "duration": args.duration, "loadgen": ctx.load.name, "open_rate": args.open_rate,
            "open_duration": args.open_duration or args.duration,
            "references": args.reference_names,
            "variants": [{"name": v.name, "revision": v.revision, "env": v.env}
                         for v in args.variants]}
    rows = summarise(cells, names)
    text = markdown(meta, rows, open_cells)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    (out / f"variants-{stamp}.md").write_text(text)
    (out / f"variants-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "summary": rows, "cells": cells, "open_loop": open_cells},
        indent=2, default=str) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
