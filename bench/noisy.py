"""The noisy neighbour, and what the tenant limits cost: `python -m bench.noisy --help`.

1. Noisy neighbour: one `catalog serve` on a throwaway PostgreSQL; tenant A has the
   contract's default limit as its own (100/s, bursts of 200), B a limit it never reaches
   (the service's default here), and each at most half the pool in flight. Tenant B reads at
   `--b-connections` (4) alone, then while tenant A floods at `--a-connections` (64), A B A B
   for `--rounds`; then once more together on a service with the limits off, for contrast.
   Reported: B's p50, p99 and non-2xx, alone and beside A; A's answers and its share of 429s
   (from the server's own counters, by reason); the server's 5xx.
2. Cost: three services, limits off, local, and shared through a throwaway redis-server,
   each with limits too high to reject anything; the same read load (`--cost-connections`)
   on each in turn, off local redis off local redis …: server CPU µs per request.

Every request is `GET /v1/cities/biggest?limit=20` (wrk and bench/mix.lua, or bench/pyload.py).
Nothing is asserted; the target (B's p99 within 2x of alone, no errors for B) is reported."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procstat
from bench.runner import (PG_SETTINGS, LoadGen, Server, find_wrk, log, prepare_database,
                          snapshot_code, start_server)
from bench.seed import Profile, write_keys

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.postgres import PostgresServer, throwaway_postgres  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

ADMIN_TOKEN = "bench-noisy-admin"
HIGH = {"CATALOG_TENANT_RATE": "100000", "CATALOG_TENANT_BURST": "100000",
        "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN}
A_LIMIT = {"rate": 100, "burst": 200}


def set_own_limit(server: Server, token: str, limit: dict[str, int]) -> None:
    """PATCH the tenant of `token` with its own rate limit, through the operator API."""
    from domain.tokens import parse_token

    parsed = parse_token(token)
    assert parsed is not None
    request = urllib.request.Request(
        f"{server.url}/v1/tenants/{parsed[0]}", method="PATCH",
        data=json.dumps({"rate_limit": limit}).encode(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def metrics(server: Server) -> dict[str, float]:
    """The counters this benchmark reads, from the server's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = {"rate": 0.0, "concurrency": 0.0, "5xx": 0.0, "fallbacks": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "catalog_tenant_requests_rejected_total":
                found[sample.labels["reason"]] += sample.value
            elif sample.name == "catalog_http_requests_total" and \
                    sample.labels.get("status_class") == "5xx":
                found["5xx"] += sample.value
            elif sample.name == "catalog_ratelimit_redis_fallbacks_total":
                found["fallbacks"] += sample.value
    return found


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in after}


def b_row(result: dict[str, Any]) -> dict[str, Any]:
    latency = result["latency_us"]
    errors = sum(result["errors"].values())
    return {"requests": result["requests"], "p50_ms": latency["p50"] / 1000,
            "p99_ms": latency["p99"] / 1000, "non2xx": result["non2xx"], "socket_errors": errors}


def noisy_rounds(server: Server, a: LoadGen, b: LoadGen, args: argparse.Namespace,
                 rounds: int) -> list[dict[str, Any]]:
    rows = []
    for round_no in range(1, rounds + 1):
        if args.alone:
            log(f"round {round_no}: B alone")
            before = metrics(server)
            alone, _ = b.run(server.url, "read", args.duration)
            rows.append({"round": round_no, "phase": "B alone", "b": b_row(alone),
                         "server": delta(metrics(server), before)})
        log(f"round {round_no}: A floods beside B")
        before = metrics(server)
        flood = a.start(server.url, "read", args.duration)
        calm = b.start(server.url, "read", args.duration)
        b_result = b.finish(calm, args.duration)
        a_result = a.finish(flood, args.duration)
        counted = delta(metrics(server), before)
        rejected = counted["rate"] + counted["concurrency"]
        rows.append({"round": round_no, "phase": "B beside A", "b": b_row(b_result),
                     "a": {"requests": a_result["requests"], "non2xx": a_result["non2xx"],
                           "rejected_429": rejected,
                           "share_429": rejected / a_result["requests"]
                           if a_result["requests"] else 0.0},
                     "server": counted})
    return rows


def cost_rounds(servers: dict[str, Server], load: LoadGen, args: argparse.Namespace
                ) -> list[dict[str, Any]]:
    rows = []
    for round_no in range(1, args.rounds + 1):
        for name, server in servers.items():
            log(f"cost round {round_no}: limits {name}")
            server.remember_pids()
            cpu_before, before = procstat.tree_cpu_seconds(server.pid), metrics(server)
            result, _ = load.run(server.url, "read", args.cost_duration)
            cpu = procstat.tree_cpu_seconds(server.pid) - cpu_before
            counted = delta(metrics(server), before)
            requests = max(1, result["requests"])
            rows.append({"round": round_no, "limits": name, "requests": result["requests"],
                         "req_s": result["requests"] / (result["duration_us"] / 1e6),
                         "cpu_us_per_req": cpu / requests * 1e6,
                         "non2xx": result["non2xx"], "fallbacks": counted["fallbacks"]})
    return rows


def markdown(meta: dict[str, Any], noisy: list[dict[str, Any]], off: list[dict[str, Any]],
             cost: list[dict[str, Any]]) -> str:
    lines = [f"# Noisy neighbour and the limits' cost ({meta['started_at']}, commit "
             f"{meta['commit']}, {meta['loadgen']})", "",
             "| round | phase | B p50 ms | B p99 ms | B non-2xx | A answers | A 429 share | "
             "429 rate / concurrency | 5xx |", "| --- | --- | --- | --- | --- | --- | --- | --- "
             "| --- |"]
    for row in [*noisy, *[dict(r, phase=r["phase"] + " (limits off)") for r in off]]:
        a, s = row.get("a"), row["server"]
        share = f"{a['share_429']:.1%}" if a else "-"
        lines.append(
            f"| {row['round']} | {row['phase']} | {row['b']['p50_ms']:.1f} | "
            f"{row['b']['p99_ms']:.1f} | {row['b']['non2xx'] + row['b']['socket_errors']} | "
            f"{a['requests'] if a else '-'} | {share} | "
            f"{s['rate']:.0f} / {s['concurrency']:.0f} | {s['5xx']:.0f} |")
    alone = [r["b"]["p99_ms"] for r in noisy if r["phase"] == "B alone"]
    beside = [r["b"]["p99_ms"] for r in noisy if r["phase"] == "B beside A"]
    if alone and beside:
        ratio = statistics.median(beside) / statistics.median(alone)
        errors = sum(r["b"]["non2xx"] + r["b"]["socket_errors"] for r in noisy)
        lines += ["", f"B's p99 beside A / alone (medians): {ratio:.2f}x (target <= 2x: "
                      f"{'met' if ratio <= 2 else 'missed'}); B's errors: {errors} (target 0: "
                      f"{'met' if errors == 0 else 'missed'})"]
    lines += ["", "| round | limits | req/s | server CPU µs/req | non-2xx | Redis fallbacks |",
              "| --- | --- | --- | --- | --- | --- |"]
    for row in cost:
        lines.append(f"| {row['round']} | {row['limits']} | {row['req_s']:.0f} | "
                     f"{row['cpu_us_per_req']:.0f} | {row['non2xx']} | {row['fallbacks']:.0f} |")
    by = {name: statistics.median(r["cpu_us_per_req"] for r in cost if r["limits"] == name)
          for name in dict.fromkeys(r["limits"] for r in cost)}
    if "off" in by:
        lines += ["", "Median server CPU µs/request: " + ", ".join(
            f"{name} {value:.0f} ({value - by['off']:+.0f} vs off)" for name, value in by.items())]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.noisy", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per noisy cell")
    parser.add_argument("--cost-duration", type=float, default=8.0, help="seconds per cost cell")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--a-connections", type=int, default=64)
    parser.add_argument("--b-connections", type=int, default=4)
    parser.add_argument("--cost-connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-timeout-ms", type=float, default=100.0,
                        help="CATALOG_REDIS_TIMEOUT_MS of the cost run's Redis service (100: the "
                             "Redis path itself, not fallbacks, on a loaded machine)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--no-alone", dest="alone", action="store_false",
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.runner import commit_id

    args = parse_args(argv)
    started_at = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="catalog-noisy-"))
    snapshot_code(work)
    loop = asyncio.new_event_loop()
    servers: list[Server] = []
    redis = RedisServer(work)
    try:
        wrk = find_wrk(args.loadgen)
        with throwaway_postgres(private=True, settings=PG_SETTINGS) as pg:
            assert isinstance(pg, PostgresServer)
            dsns, seeded, _ = prepare_database(pg, "noisy", Profile("noisy", 2, 1_000), work,
                                               loop, deep=False)
            a_keys, b_keys = work / "a.txt", work / "b.txt"
            write_keys(a_keys, seeded.tokens[:1])
            write_keys(b_keys, seeded.tokens[1:2])
            a = LoadGen(wrk, a_keys, args.a_connections, 1)
            b = LoadGen(wrk, b_keys, args.b_connections, 1)

            def serve(extra: dict[str, str]) -> Server:
                server = start_server("service", args.workers, dsns, work, "warning", extra)
                servers.append(server)
                return server

            limited = serve(HIGH)
            set_own_limit(limited, seeded.tokens[0], A_LIMIT)
            b.run(limited.url, "read", 2.0)  # warm-up
            noisy = noisy_rounds(limited, a, b, args, args.rounds)
            limited.stop()
            unlimited = serve({**HIGH, "CATALOG_TENANT_LIMITS": "false"})
            b.run(unlimited.url, "read", 2.0)
            off = noisy_rounds(unlimited, a, b, argparse.Namespace(**{**vars(args),
                                                                       "alone": False}), 1)
            unlimited.stop()

            redis.start()
            cost_servers = {"off": serve({**HIGH, "CATALOG_TENANT_LIMITS": "false"}),
                            "local": serve(HIGH),
                            "redis": serve({**HIGH, "CATALOG_REDIS_URL": redis.url,
                                            "CATALOG_REDIS_TIMEOUT_MS": str(args.redis_timeout_ms)})}
            load = LoadGen(wrk, b_keys, args.cost_connections, 1)
            for server in cost_servers.values():
                load.run(server.url, "read", 2.0)  # warm-up
            cost = cost_rounds(cost_servers, load, args)
    finally:
        for server in servers:
            server.stop()
        redis.stop()
        loop.close()
        shutil.rmtree(work, ignore_errors=True)
    meta = {"started_at": started_at.isoformat(timespec="seconds"), "commit": commit_id(),
            "loadgen": a.name.replace(f"-c{args.a_connections}", "")}
    text = markdown(meta, noisy, off, cost)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    (out / f"noisy-{stamp}.md").write_text(text)
    (out / f"noisy-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "noisy": noisy, "limits_off": off, "cost": cost}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
