"""A/B figures for the HTTP server's guards and the pool's pre-ping (inside the project's venv):

    python -m bench.hostile [--rounds 3] [--duration 5] [--skip-preping]

A is uvicorn's own httptools protocol, B the bounded one `catalog serve` uses
(entrypoints.http.protocol), both under uvicorn on one worker on the same SQLite file; the
rounds alternate A B A B. Reported:
- server CPU per request (µs, from /proc) and requests/s under wrk, on /healthz (the HTTP
  server's share is largest there) and GET /v1/me (a tenant's request);
- a header flood: 20 connections each streaming one header of up to 100 MiB (at most 30 s),
  meanwhile another tenant's GET /v1/me latency, and the server's peak RSS;
- a slowloris: one connection sending a header byte every 0.5 s: how long the server holds it
  (at most 60 s);
- pre-ping: off, on every checkout, and on after a second idle (the default), on a
  throwaway PostgreSQL, GET /v1/cities/biggest, service CPU per request and requests/s.
Every loop is bounded by count and time; every process is stopped by PID."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench.procstat import TICKS, tree

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ADMIN = "bench-admin"
PROTOCOLS = {"A": "httptools", "B": "entrypoints.http.protocol:BoundedHttpToolsProtocol"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    return env | {"CATALOG_DATABASE_URL": url, "CATALOG_ADMIN_TOKEN": ADMIN,
                  "CATALOG_LOG_LEVEL": "warning", "CATALOG_LOG_FORMAT": "json",
                  "PYTHONPATH": str(ROOT / "src")} | extra


class Server:
    def __init__(self, http: str, env: dict[str, str], directory: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(directory / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(BIN / "python"), "-m", "uvicorn", "entrypoints.http.asgi:app_factory",
             "--factory", "--host", "127.0.0.1", "--port", str(self.port), "--http", http,
             "--no-access-log", "--no-server-header", "--log-level", "warning"],
            env=env, cwd=directory, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start")

    def cpu_ticks(self) -> int:
        return sum(s.own for s in tree(self.process.pid))

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.log.close()


def new_tenant(base: str) -> str:
    response = httpx.post(f"{base}/v1/tenants", json={"slug": f"b-{os.urandom(6).hex()}"},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    response.raise_for_status()
    return str(response.json()["api_key"]["key"])


def wrk(url: str, key: str | None, duration: float) -> tuple[int, float]:
    """(requests, seconds) of a wrk run: 32 connections, one thread."""
    command = ["wrk", "-t1", "-c32", f"-d{duration:g}s", "--latency", url]
    if key:
        command[1:1] = ["-H", f"Authorization: Bearer {key}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30).stdout
    found = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if found is None:
        raise RuntimeError(out)
    seconds = float(found.group(2)) / (1000 if found.group(3) == "ms" else 1)
    return int(found.group(1)), seconds


def cpu_per_request(server: Server, path: str, key: str | None, duration: float
                    ) -> tuple[float, float]:
    before = server.cpu_ticks()
    requests, seconds = wrk(server.base + path, key, duration)
    used = (server.cpu_ticks() - before) / TICKS
    return used / max(requests, 1) * 1e6, requests / seconds


def latencies(base: str, key: str, count: int, stop: threading.Event | None = None
              ) -> list[float]:
    found = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=60) as client:
        for _ in range(count):
            if stop is not None and stop.is_set():
                break
            started = time.perf_counter()
            try:
                client.get("/v1/me")
            except httpx.HTTPError:
                pass
            found.append((time.perf_counter() - started) * 1000)
    return found


def flood_one(port: int, stop: threading.Event, limit: int = 100 << 20,
              seconds: float = 30.0) -> int:
    sent, deadline = 0, time.monotonic() + seconds
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            chunk = b"f" * 65536
            while sent < limit and time.monotonic() < deadline and not stop.is_set():
                sock.sendall(chunk)
                sent += len(chunk)
    except OSError:
        pass
    return sent


def header_flood(server: Server, key: str) -> dict[str, object]:
    quiet = latencies(server.base, key, 30)
    rss_before, peak, stop = server.rss(), server.rss(), threading.Event()
    sent: list[int] = []
    floods = [threading.Thread(target=lambda: sent.append(flood_one(server.port, stop)))
              for _ in range(20)]
    for thread in floods:
        thread.start()
    time.sleep(1.0)
    measured: list[float] = []
    reader = threading.Thread(target=lambda: measured.extend(latencies(server.base, key, 30)))
    reader.start()
    deadline = time.monotonic() + 40
    while reader.is_alive() and time.monotonic() < deadline:
        peak = max(peak, server.rss())
        time.sleep(0.2)
    stop.set()
    reader.join(60)
    for thread in floods:
        thread.join(60)
    return {"quiet_p50_ms": round(statistics.median(quiet), 2),
            "flood_p50_ms": round(statistics.median(measured), 2) if measured else None,
            "flood_max_ms": round(max(measured), 2) if measured else None,
            "rss_before_mb": round(rss_before / 2**20, 1), "rss_peak_mb": round(peak / 2**20, 1),
            "mib_sent_per_connection": round(statistics.median(sent) / 2**20, 2)}


def slowloris(server: Server, limit: float = 60.0) -> float:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
        data = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 1000
        for byte in data:
            if time.monotonic() - started > limit:
                break
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(65536) == b"":
                    break
                break  # an answer: the server is closing
            except TimeoutError:
                continue
            except OSError:
                break
    return round(time.monotonic() - started, 2)


def guard_ab(args: argparse.Namespace, directory: Path) -> dict[str, object]:
    url = f"sqlite+aiosqlite:///{directory / 'bench.db'}"
    env = env_for(url)
    subprocess.run([str(BIN / "catalog"), "db", "sync"], env=env, check=True, timeout=120)
    cells: dict[str, dict[str, list[float]]] = {name: {} for name in PROTOCOLS}
    for round_no in range(args.rounds):
        for name, http in PROTOCOLS.items():
            server = Server(http, env, directory)
            try:
                key = new_tenant(server.base)
                for path, auth in (("/healthz", None), ("/v1/me", key)):
                    cpu, rate = cpu_per_request(server, path, auth, args.duration)
                    cells[name].setdefault(f"{path} cpu_us", []).append(cpu)
                    cells[name].setdefault(f"{path} req_s", []).append(rate)
            finally:
                server.stop()
            print(f"round {round_no + 1} {name}: " + json.dumps(
                {k: round(v[-1], 1) for k, v in cells[name].items()}), flush=True)
    result: dict[str, object] = {"cpu": {name: {k: round(statistics.median(v), 1)
                                                for k, v in cell.items()}
                                         for name, cell in cells.items()}}
    for name, http in PROTOCOLS.items():
        server = Server(http, env, directory)
        try:
            key = new_tenant(server.base)
            result[f"slowloris_held_s {name}"] = slowloris(server)
            result[f"header_flood {name}"] = header_flood(server, key)
        finally:
            server.stop()
        print(name, json.dumps({k: v for k, v in result.items() if k.endswith(name)}),
              flush=True)
    return result


def preping_ab(args: argparse.Namespace, directory: Path) -> dict[str, object]:
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import throwaway_postgres

    variants = {"off": {"CATALOG_POOL_PRE_PING": "false"},
                "every checkout": {"CATALOG_POOL_PRE_PING": "true",
                                   "CATALOG_POOL_PRE_PING_IDLE_SECONDS": "0"},
                "after 1 s idle (default)": {"CATALOG_POOL_PRE_PING": "true"}}
    cells: dict[str, dict[str, list[float]]] = {name: {} for name in variants}
    with throwaway_postgres(private=True) as pg:
        pg.create_database("preping")
        url = pg.url("preping").replace("postgresql+asyncpg://", "postgresql://")
        subprocess.run([str(BIN / "catalog"), "db", "sync"], env=env_for(url), check=True,
                       timeout=120)
        for _ in range(args.rounds):
            for name in cells:
                env = env_for(url, **variants[name])
                server = Server(PROTOCOLS["B"], env, directory)
                try:
                    key = new_tenant(server.base)
                    for n in range(20):
                        httpx.post(f"{server.base}/v1/cities", timeout=10,
                                   json={"name": f"c{n}", "population": n},
                                   headers={"Authorization": f"Bearer {key}"})
                    cpu, rate = cpu_per_request(server, "/v1/cities/biggest", key,
                                                args.duration)
                    cells[name].setdefault("cpu_us", []).append(cpu)
                    cells[name].setdefault("req_s", []).append(rate)
                finally:
                    server.stop()
                print(f"pre-ping {name}: cpu {cpu:.1f} µs/req, {rate:.0f} req/s", flush=True)
    return {name: {k: round(statistics.median(v), 1) for k, v in cell.items()}
            for name, cell in cells.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--skip-preping", action="store_true")
    parser.add_argument("--only-preping", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as work:
        result: dict[str, object] = {} if args.only_preping else {"guard": guard_ab(args, Path(work))}
        if not args.skip_preping:
            result["preping"] = preping_ab(args, Path(work))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
