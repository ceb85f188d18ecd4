"""Results: medians over rounds, ratios to the baseline of the same round, the targets, Markdown."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from bench import references

MIX_LABELS = {"read": "100% GET biggest", "mixed": "80/20 GET/POST", "write": "100% POST"}
RATIO_TARGETS = {"read": (0.30, 0.50), "mixed": (0.25, None), "write": (0.20, None)}
P99_LIMIT_MS = 100.0
RSS_LIMIT_MB = 150.0
RSS_GROWTH_LIMIT_PCT = 5.0
LARGE_P50_LIMIT = 1.3
KEYSET_LIMIT = 1.2
MEDIANS = ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req", "db_cpu_us_per_req",
           "client_cpu_us_per_req", "other_cpu_cores")
NOISY_CORES = 0.2  # other processes' CPU during a cell above which its numbers are suspect


def _key(cell: dict[str, Any]) -> tuple[str, int, str]:
    return cell["profile"], cell["workers"], cell["mix"]


def build(meta: dict[str, Any], cells: list[dict[str, Any]], probes: dict[str, Any]
          ) -> dict[str, Any]:
    """Attach each service cell's ratio to the baseline of its round; summarise; judge."""
    baselines = {(*_key(c), c["round"]): c for c in cells if c["target"] == "baseline"}
    for cell in cells:
        if cell["target"] == "service":
            base = baselines.get((*_key(cell), cell["round"]))
            cell["ratio"] = cell["rps"] / base["rps"] if base and base["rps"] else None
    references.attach(cells)
    groups: dict[tuple[str, int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        groups[(*_key(cell), cell["target"])].append(cell)
    summary = []
    for (profile, workers, mix, target), members in groups.items():
        row: dict[str, Any] = {"profile": profile, "workers": workers, "mix": mix,
                               "target": target, "rounds": len(members)}
        for name in MEDIANS:
            row[name] = statistics.median(c[name] for c in members)
        row["peak_rss_mb"] = max(c["peak_rss_mb"] for c in members)
        row["non2xx"] = sum(c["non2xx"] for c in members)
        row["socket_errors"] = sum(c["socket_errors"] for c in members)
        row["new_db_connections"] = sum(c["new_db_connections"] for c in members)
        row["backends"] = [[c["backends_before"], c["backends_after"]] for c in members]
        ratios = [c["ratio"] for c in members if c.get("ratio") is not None]
        if ratios:
            row["ratio"] = statistics.median(ratios)
            row["ratio_min"], row["ratio_max"] = min(ratios), max(ratios)
        row |= references.summarise(members)
        summary.append(row)
    results = {"meta": meta, "summary": summary, "probes": probes, "cells": cells}
    results["targets"] = targets(results) + references.targets(results)
    return results


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    meta, probes = results["meta"], results["probes"]
    main = [r for r in results["summary"] if r["profile"] == meta["profile"]]
    service = [r for r in main if r["target"] == "service"]
    cells = [c for c in results["cells"] if c["target"] == "service"
             and c["profile"] == meta["profile"]]
    found: list[dict[str, Any]] = []

    def add(name: str, value: str, ok: bool | None) -> None:
        found.append({"target": name, "measured": value, "status": _status(ok)})

    for mix, (floor, stretch) in RATIO_TARGETS.items():
        for row in sorted((r for r in service if r["mix"] == mix), key=lambda r: r["workers"]):
            ratio = row.get("ratio")
            ok = None if ratio is None else ratio >= floor
            name = f"{MIX_LABELS[mix]}, {row['workers']} worker(s): >= {floor:.2f}x baseline"
            if stretch:
                name += f" (stretch {stretch:.2f}x)"
                if ratio is not None and ratio >= stretch:
                    ok = True
            value = "-" if ratio is None else (
                f"{ratio:.2f}x ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})")
            if stretch and ratio is not None:
                value += " stretch met" if ratio >= stretch else " stretch not met"
            add(name, value, ok)
    if cells:
        worst = max(cells, key=lambda c: c["p99_ms"])
        add(f"p99 < {P99_LIMIT_MS:.0f} ms (every service cell)",
            f"worst {worst['p99_ms']:.1f} ms "
            f"(w{worst['workers']} {worst['mix']} r{worst['round']})",
            worst["p99_ms"] < P99_LIMIT_MS)
        bad = sum(c["non2xx"] + c["socket_errors"] for c in cells)
        add("zero non-2xx (and socket errors)", f"{sum(c['non2xx'] for c in cells)} non-2xx, "
            f"{sum(c['socket_errors'] for c in cells)} socket errors", bad == 0)
        new = sum(c["new_db_connections"] for c in cells)
        changed = sum(1 for c in cells if c["backends_before"] != c["backends_after"])
        add("no new DB connections during steady load",
            f"{new} connections opened in measured windows; backends changed in {changed} of "
            f"{len(cells)} cells", new == 0 and changed == 0)
        rss = max([c["peak_rss_mb"] for c in cells]
                  + ([probes["soak"]["peak_rss_mb"]] if probes.get("soak") else []))
        add(f"RSS per worker < {RSS_LIMIT_MB:.0f} MB", f"peak {rss:.1f} MB", rss < RSS_LIMIT_MB)
    if meta["profile"] == "large":
        large = [r for r in service if r["mix"] == "read"]
        first = min((r["workers"] for r in large), default=None)
        ref = [r for r in results["summary"] if r["profile"] == "default"
               and r["target"] == "service" and r["mix"] == "read" and r["workers"] == first]
        big = [r for r in large if r["workers"] == first]
        if ref and big:
            ratio = big[0]["p50_ms"] / ref[0]["p50_ms"]
            add(f"--large p50 of biggest within {LARGE_P50_LIMIT}x of default",
                f"{big[0]['p50_ms']:.2f} ms vs {ref[0]['p50_ms']:.2f} ms = {ratio:.2f}x",
                ratio <= LARGE_P50_LIMIT)
    else:
        add(f"--large p50 of biggest within {LARGE_P50_LIMIT}x of default", "run with --large",
            None)
    keyset = probes.get("keyset")
    add(f"page 1000 of a keyset list within {KEYSET_LIMIT}x of page 1",
        "not run" if not keyset else
        f"page {keyset['pages']}: {keyset['last_page_p50_ms']:.2f} ms vs page 1: "
        f"{keyset['page1_p50_ms']:.2f} ms = {keyset['ratio']:.2f}x",
        None if not keyset else keyset["ratio"] <= KEYSET_LIMIT)
    soak = probes.get("soak")
    add(f"RSS growth < {RSS_GROWTH_LIMIT_PCT:.0f}% from middle to end of --soak",
        "run with --soak SECONDS" if not soak else
        f"{soak['max_growth_pct']:.2f}% over {soak['seconds']:.0f} s "
        f"(peak {soak['peak_rss_mb']} MB)",
        None if not soak else soak["max_growth_pct"] < RSS_GROWTH_LIMIT_PCT)
    return found


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i > 2 else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _order(row: dict[str, Any], meta: dict[str, Any]) -> tuple[Any, ...]:
    mixes = list(MIX_LABELS)
    return (row["profile"] != meta["profile"], row["workers"], mixes.index(row["mix"]),
            row["target"] != "service", row.get("round", 0))


def markdown(results: dict[str, Any]) -> str:
    meta, probes = results["meta"], results["probes"]
    out = [f"# Benchmark {meta['started_at']} ({meta['profile']} profile)", ""]
    out.append(
        f"{meta['tenants']:,} tenants x {meta['cities_per_tenant']:,} cities "
        f"(seeded in {meta.get('seed_s', '?')} s); {meta['loadgen']} on 127.0.0.1, "
        f"{meta['duration_s']:g} s per cell after {meta['warmup_s']:g} s warm-up, "
        f"{meta['rounds']} round(s) of the service then floor, raw, baseline; PostgreSQL {meta.get('postgres')}; "
        f"{meta['machine']['cores']} cores ({meta['machine']['cpu']}); Python "
        f"{meta['machine']['python']}; code of commit {(meta.get('commit') or '?')[:12]} + "
        f"working tree (sources digest {meta.get('code_digest', '?')}), copied at the start; "
        f"wall time {meta.get('wall_s', '?')} s.")
    noisy = [c for c in results["cells"] if c["other_cpu_cores"] > NOISY_CORES]
    if noisy:
        out += ["", f"**Noise:** other processes on the machine used more than {NOISY_CORES} "
                f"cores during {len(noisy)} of {len(results['cells'])} cells (up to "
                f"{max(c['other_cpu_cores'] for c in noisy):.2f}; marked ! in the last table): "
                "their absolute numbers are low; the ratios, taken round by round, less so."]
    out += ["", f"## Results (median of {meta['rounds']} round(s))", "",
            "CPU is µs per request over the measured window: the server's process tree (master "
            "and workers), and every PostgreSQL process. RSS is the peak (VmHWM) of the biggest "
            "worker. `x baseline` is the service's requests/s over the baseline's in the same "
            "round (median, and range over rounds).", ""]
    header = ["workers", "mix", "target", "req/s", "p50 ms", "p99 ms", "server CPU µs/req",
              "DB CPU µs/req", "peak RSS/worker MB", "non-2xx", "new DB conns", "x baseline"]
    rows = []
    for row in sorted(results["summary"], key=lambda r: _order(r, meta)):
        mix = MIX_LABELS[row["mix"]] + ("" if row["profile"] == meta["profile"]
                                        else f" ({row['profile']} db)")
        ratio = "" if "ratio" not in row else (
            f"**{row['ratio']:.2f}x**" + (f" ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"
                                          if row["rounds"] > 1 else ""))
        rows.append([str(row["workers"]), mix, row["target"], f"{row['rps']:,.0f}",
                     f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}",
                     f"{row['server_cpu_us_per_req']:,.0f}", f"{row['db_cpu_us_per_req']:,.0f}",
                     f"{row['peak_rss_mb']:.1f}",
                     f"{row['non2xx']}" + (f" (+{row['socket_errors']} socket)"
                                           if row["socket_errors"] else ""),
                     str(row["new_db_connections"]), ratio])
    out += [_table(header, rows), "", "## Targets (reported, never asserted)", ""]
    out.append(_table(["target", "measured", "status"],
                      [[t["target"], t["measured"], t["status"]] for t in results["targets"]]))
    out += ["", references.markdown(results)]
    if found := probes.get("statements"):
        out += ["", "## SQL statements per request", "",
                "With log_statement=all for a moment, requests sent one at a time; each "
                "statement is one round trip to PostgreSQL.", ""]
        out.append(_table(["target", "GET /v1/cities/biggest", "POST /v1/cities"],
                          [[kind, f"{v['GET']:g}", f"{v['POST']:g}"]
                           for kind, v in found.items()]))
    if keyset := probes.get("keyset"):
        out += ["", "## Keyset pages", "",
                f"The deep tenant's {keyset['pages']} pages of {keyset['limit']} cities walked "
                f"through `GET /v1/cities?limit={keyset['limit']}&cursor=…` in "
                f"{keyset['walk_s']} s (last page: {keyset['last_page_items']} items); then page "
                f"1 and page {keyset['pages']} alternately, {keyset['repeats']} times each, one "
                f"request at a time: p50 {keyset['page1_p50_ms']:.2f} vs "
                f"{keyset['last_page_p50_ms']:.2f} ms, p90 {keyset['page1_p90_ms']:.2f} vs "
                f"{keyset['last_page_p90_ms']:.2f} ms: **{keyset['ratio']:.2f}x**."]
    if soak := probes.get("soak"):
        out += ["", "## Soak", "",
                f"{soak['seconds']:.0f} s of the 80/20 mix on the service with {soak['workers']} "
                f"worker(s): {soak['rps']:,.0f} req/s, p50 {soak['p50_ms']:.2f} ms, p99 "
                f"{soak['p99_ms']:.2f} ms, {soak['non2xx']} non-2xx, "
                f"{soak['new_db_connections']} new DB connections. RSS per worker (pid: middle "
                f"→ end): " + ", ".join(
                    f"{pid}: {soak['rss_mb_middle'][pid]} → {soak['rss_mb_end'].get(pid, '?')} MB "
                    f"({soak['rss_growth_pct'].get(pid, 0):+.2f}%)"
                    for pid in soak["rss_mb_middle"])
                + f"; peak {soak['peak_rss_mb']} MB."]
    out += ["", "## Every cell", ""]
    header = ["workers", "mix", "target", "round", "req/s", "p50 ms", "p99 ms", "server µs/req",
              "DB µs/req", "client µs/req", "other load (cores)", "RSS MB", "non-2xx",
              "backends before/after", "new conns", "x baseline"]
    rows = []
    for cell in sorted(results["cells"], key=lambda c: _order(c, meta)):
        mix = cell["mix"] + ("" if cell["profile"] == meta["profile"] else f" ({cell['profile']})")
        rows.append([str(cell["workers"]), mix, cell["target"], str(cell["round"]),
                     f"{cell['rps']:,.0f}", f"{cell['p50_ms']:.2f}", f"{cell['p99_ms']:.2f}",
                     f"{cell['server_cpu_us_per_req']:,.0f}", f"{cell['db_cpu_us_per_req']:,.0f}",
                     f"{cell['client_cpu_us_per_req']:,.0f}",
                     f"{cell['other_cpu_cores']:.2f}" + (" !" if cell["other_cpu_cores"]
                                                         > NOISY_CORES else ""),
                     f"{cell['peak_rss_mb']:.1f}",
                     str(cell["non2xx"] + cell["socket_errors"]),
                     f"{cell['backends_before']}/{cell['backends_after']}",
                     str(cell["new_db_connections"]),
                     "" if cell.get("ratio") is None else f"{cell['ratio']:.2f}x"])
    out += [_table(header, rows), ""]
    return "\n".join(out)
