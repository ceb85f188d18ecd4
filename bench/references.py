"""Every cell against the three references, the speed targets, and the open-loop table.

The references, each measured in the same round as the service (A B C D):
- `raw`: the raw ASGI limit, bench/baseline.py with no authentication (`bench.baseline:raw`);
- `floor`: the FastAPI floor, bench/floor.py (FastAPI, a raw asyncpg pool, no auth, no scope);
- `baseline`: the same-work baseline, bench/baseline.py (API keys checked, same SQL and JSON).
"""

from __future__ import annotations

import statistics
from typing import Any

REFERENCES = ("raw", "floor", "baseline")
FLOOR_TARGETS = {"read": 0.8, "mixed": 0.6}  # service req/s over the FastAPI floor's
RAW_TARGET = 0.3  # service read req/s over the raw ASGI limit's
OPEN_P99_LIMIT_MS = 20.0


def _key(cell: dict[str, Any]) -> tuple[Any, ...]:
    return cell["profile"], cell["workers"], cell["mix"], cell["round"]


def attach(cells: list[dict[str, Any]]) -> None:
    """cell["x_raw"], ["x_floor"], ["x_baseline"]: req/s over the reference's, same round;
    ["cpu_x_raw"]: server CPU per request over the raw ASGI limit's."""
    found = {(c["target"], *_key(c)): c for c in cells}
    for cell in cells:
        for reference in REFERENCES:
            base = found.get((reference, *_key(cell)))
            cell[f"x_{reference}"] = (cell["rps"] / base["rps"]
                                      if base and base["rps"] else None)
        raw = found.get(("raw", *_key(cell)))
        cell["cpu_x_raw"] = (cell["server_cpu_us_per_req"] / raw["server_cpu_us_per_req"]
                             if raw and raw["server_cpu_us_per_req"] else None)


def summarise(members: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians (and ranges) of the ratios over a group's rounds."""
    row: dict[str, Any] = {}
    for name in [f"x_{r}" for r in REFERENCES] + ["cpu_x_raw"]:
        values = [c[name] for c in members if c.get(name) is not None]
        if values:
            row[name] = statistics.median(values)
            row[name + "_range"] = [min(values), max(values)]
    return row


def ratio_text(row: dict[str, Any], name: str, unit: str = "") -> str:
    if row.get(name) is None:
        return ""
    low, high = row.get(name + "_range", [row[name], row[name]])
    return f"{row[name]:.2f}{unit}" + (f" ({low:.2f}-{high:.2f})" if high - low >= 0.005 else "")


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The speed targets, per worker count; met / MISSED / n/a."""
    meta = results["meta"]
    service = {(r["workers"], r["mix"]): r for r in results["summary"]
               if r["target"] == "service" and r["profile"] == meta["profile"]}
    found: list[dict[str, Any]] = []
    per_workers: dict[int, list[bool]] = {}

    def add(name: str, value: str, ok: bool | None, workers: int | None = None) -> None:
        found.append({"target": name, "measured": value,
                      "status": "n/a" if ok is None else ("met" if ok else "MISSED")})
        if workers is not None and ok is not None:
            per_workers.setdefault(workers, []).append(ok)

    labels = {"read": "reads (real keys, tenant scope, RLS)", "mixed": "80/20 mix"}
    for workers in sorted({w for w, _ in service}):
        for mix, floor in FLOOR_TARGETS.items():
            row = service.get((workers, mix))
            if row is not None:
                value = row.get("x_floor")
                add(f"{labels[mix]}, {workers} worker(s): >= {floor:.1f}x the FastAPI floor",
                    ratio_text(row, "x_floor", "x") if value is not None else "-",
                    None if value is None else value >= floor, workers)
        row = service.get((workers, "read"))
        if row is not None:
            value = row.get("x_raw")
            add(f"reads, {workers} worker(s): >= {RAW_TARGET:.1f}x the raw ASGI limit",
                ratio_text(row, "x_raw", "x") if value is not None else "-",
                None if value is None else value >= RAW_TARGET, workers)
        for cell in results["probes"].get("open_loop") or []:
            if cell["target"] == "service" and cell["workers"] == workers \
                    and cell["profile"] == meta["profile"]:
                add(f"open loop at {cell['rate']:.0f} req/s (half of capacity), {workers} "
                    f"worker(s): p99 < {OPEN_P99_LIMIT_MS:.0f} ms",
                    f"p99 {cell['p99_ms']:.1f} ms (p50 {cell['p50_ms']:.1f}, p99.9 "
                    f"{cell['p999_ms']:.1f}; {cell['late_starts']} late starts, "
                    f"{cell['non2xx'] + cell['socket_errors']} non-2xx/errors)",
                    cell["p99_ms"] < OPEN_P99_LIMIT_MS and cell["requests"] == cell["scheduled"],
                    workers)
    if 1 in per_workers and len(per_workers) > 1:
        others = [w for w in per_workers if w != 1]
        one = per_workers[1]
        add("the 1-worker cells reach the same targets as the "
            + ",".join(str(w) for w in others) + "-worker ones",
            f"{sum(one)} of {len(one)} 1-worker targets met; "
            + "; ".join(f"{sum(per_workers[w])} of {len(per_workers[w])} {w}-worker"
                        for w in others), all(one))
    return found


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i > 1 else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The references table (read mix) and the open-loop table."""
    out: list[str] = []
    order = {kind: i for i, kind in enumerate(("service", "floor", "raw", "baseline"))}
    rows = []
    mixes = {"read": 0, "mixed": 1, "write": 2}
    for row in sorted(results["summary"], key=lambda r: (
            r["profile"] != results["meta"]["profile"], r["workers"], mixes.get(r["mix"], 9),
            order.get(r["target"], 9))):
        rows.append([f"{row['workers']}", f"{row['mix']}" + (
            "" if row["profile"] == results["meta"]["profile"] else f" ({row['profile']})"),
            row["target"], f"{row['rps']:,.0f}", f"{row['server_cpu_us_per_req']:,.0f}",
            ratio_text(row, "x_raw"), ratio_text(row, "x_floor"), ratio_text(row, "x_baseline"),
            ratio_text(row, "cpu_x_raw")])
    out += ["## Against the three references", "",
            "raw = the raw ASGI limit (bench.baseline:raw: uvicorn, one asyncpg pool, one query, "
            "orjson, no auth); floor = the FastAPI floor (bench/floor.py: FastAPI route, raw "
            "asyncpg pool, no auth or scope); baseline = the same-work baseline (bench.baseline:"
            "app, API keys checked). Ratios are req/s over the reference's in the same round "
            "(median, range over rounds); `CPU x raw` is server CPU per request over the raw "
            "limit's.", "",
            _table(["workers", "mix", "app", "req/s", "server CPU µs/req", "x raw", "x floor",
                    "x baseline", "CPU x raw"], rows)]
    steady = results["probes"].get("open_loop") or []
    if steady:
        rows = []
        for cell in sorted(steady, key=lambda c: (c["profile"], c["workers"],
                                                  order.get(c["target"], 9))):
            rows.append([f"{cell['workers']}", cell["target"], f"{cell['rate']:.0f}",
                         f"{cell['achieved_rps']:.0f}",
                         f"{cell['requests']}/{cell['scheduled']}",
                         f"{cell['p50_ms']:.2f}", f"{cell['p99_ms']:.2f}",
                         f"{cell['p999_ms']:.2f}", f"{cell['max_ms']:.1f}",
                         f"{cell['late_starts']}", f"{cell['non2xx'] + cell['socket_errors']}",
                         f"{cell['server_cpu_us_per_req']:,.0f}",
                         f"{cell['other_cpu_cores']:.2f}"])
        first = steady[0]
        out += ["", "## Open loop (constant throughput)", "",
                f"bench/openloop.py: `GET /v1/cities/biggest` at a fixed rate, half of the "
                f"service's measured {first['capacity_mix']} capacity for its worker count, the "
                f"same rate for every app, {first['scheduled'] / first['rate']:.0f} s each, over "
                f"up to 32 keep-alive connections; latency from each request's due time; a late "
                f"start is a request sent more than {first['late_ms']:g} ms after it was due (no "
                f"idle connection, or the client's loop woke late).", "",
                _table(["workers", "app", "rate req/s", "achieved", "answered/scheduled",
                        "p50 ms", "p99 ms", "p99.9 ms", "max ms", "late starts", "non-2xx",
                        "server CPU µs/req", "other load (cores)"], rows)]
    return "\n".join(out)
