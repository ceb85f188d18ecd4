"""CPU time and memory of process trees, from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    own: int       # utime + stime, in clock ticks
    children: int  # cutime + cstime: reaped children's, so exited workers/backends still count


def stat(pid: int) -> Stat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # fields from the 3rd (state) on
    return Stat(pid, int(fields[1]), int(fields[11]) + int(fields[12]),
                int(fields[13]) + int(fields[14]))


def all_stats() -> dict[int, Stat]:
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (s := stat(int(entry.name))) is not None:
            found[s.pid] = s
    return found


def tree(root: int, stats: dict[int, Stat] | None = None) -> list[Stat]:
    """`root` and all its descendants."""
    stats = all_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for s in stats.values():
        children.setdefault(s.ppid, []).append(s.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(stats[pid])
            todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by `root`, its live descendants and those it reaped."""
    # a live process's cutime holds only the dead children it reaped: no double counting
    return sum(s.own + s.children for s in tree(root)) / TICKS


def tree_pids(root: int) -> list[int]:
    return [s.pid for s in tree(root)]


def status_kb(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/PID/status (VmHWM: peak RSS, VmRSS: current RSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def uvicorn_workers(root: int) -> list[int]:
    """The processes that serve requests: uvicorn's spawned workers, or root when it has none."""
    spawned = [s.pid for s in tree(root) if s.pid != root and "spawn_main" in cmdline(s.pid)]
    return spawned or [root]


def system_busy_seconds() -> float:
    """CPU seconds every core has spent not idle since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS
