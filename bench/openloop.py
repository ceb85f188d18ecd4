"""An open-loop (constant-throughput, wrk2-style) HTTP/1.1 load generator.

    python -m bench.openloop --url http://127.0.0.1:PORT --keys FILE --rate 400 \
        --duration 10 [--connections 32] [--write-fraction 0] [--prefix NAME]

Request i is due at start + i / rate, whatever happened to the ones before it: the schedule
does not wait for answers (a closed loop like wrk's sends the next request only once the last
one is answered, so a slow server gets fewer requests and its stalls hide: "coordinated
omission"). A due request goes out on an idle keep-alive connection of `--connections`; when
none is idle it waits for one, and is a *late start*. Latency is measured from the time the
request was due, not from when it could be sent, so queueing in the client counts.

Bounded in count and in time: exactly rate x duration requests are scheduled; answers are
waited for until duration + `--timeout`, then whatever is outstanding is counted as timed out.
Prints one line `BENCH_JSON {...}`: requests, answered, late starts (more than `--late-ms`
after their due time), non-2xx, errors, the achieved rate, and latency p50/p90/p99/p99.9/max.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import random
import time
from urllib.parse import urlsplit

from bench.pyload import Load


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time, answered in order."""

    def __init__(self, client: OpenLoop) -> None:
        self.client = client
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.due = 0.0  # when the request in flight was due (perf_counter)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            position = head.find(b"content-length:")
            if position >= 0:
                line_end = head.find(b"\r\n", position)
                length = int(head[position + 15:line_end if line_end >= 0 else len(head)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            status = int(head[9:12])
            del self.buffer[:total]
            self.client.answered(self, status, total)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client.lost(self)


class OpenLoop:
    def __init__(self, load: Load, rate: float, count: int, late_s: float) -> None:
        self.load, self.rate, self.count, self.late_s = load, rate, count, late_s
        self.idle: collections.deque[Connection] = collections.deque()
        self.waiting: collections.deque[float] = collections.deque()  # due times, no connection
        self.latencies: list[float] = []
        self.lags: list[float] = []  # send time - due time, per request
        self.late = self.non2xx = self.bytes = self.sent = 0
        self.errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
        self.in_flight = 0
        self.done = asyncio.get_running_loop().create_future()

    def dispatch(self, due: float) -> None:
        if not self.idle:
            self.waiting.append(due)
            return
        self._send(self.idle.popleft(), due)

    def _send(self, connection: Connection, due: float) -> None:
        lag = time.perf_counter() - due
        self.lags.append(lag)
        if lag > self.late_s:
            self.late += 1
        self.sent += 1
        self.in_flight += 1
        connection.send(self.load.next_request(), due)

    def answered(self, connection: Connection, status: int, size: int) -> None:
        self.latencies.append(time.perf_counter() - connection.due)
        self.in_flight -= 1
        self.bytes += size
        if status > 399:
            self.non2xx += 1
        if self.waiting:
            self._send(connection, self.waiting.popleft())
        else:
            self.idle.append(connection)
        self._check_done()

    def lost(self, connection: Connection) -> None:
        if connection in self.idle:
            self.idle.remove(connection)
        elif not self.done.done():
            self.errors["read"] += 1
            self.in_flight -= 1
            self._check_done()

    def _check_done(self) -> None:
        if (self.sent + len(self.waiting) >= self.count and not self.waiting
                and self.in_flight == 0 and not self.done.done()):
            self.done.set_result(None)


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    keys = [line.strip() for line in open(args.keys) if line.strip()]
    host, port = url.hostname or "127.0.0.1", url.port or 80
    load = Load(host, port, keys, args.write_fraction, args.prefix, math.inf)
    count = max(1, round(args.rate * args.duration))
    client = OpenLoop(load, args.rate, count, args.late_ms / 1000)
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(args.connections):
        try:
            _, connection = await loop.create_connection(lambda: Connection(client), host, port)
        except OSError:
            client.errors["connect"] += 1
            continue
        connections.append(connection)
        client.idle.append(connection)
    if not connections:
        raise SystemExit("no connection could be opened")
    interval = 1.0 / args.rate
    started = time.perf_counter()
    index = 0
    while index < count:  # every due request is handed out as soon as the loop wakes
        now = time.perf_counter()
        while index < count and started + index * interval <= now:
            client.dispatch(started + index * interval)
            index += 1
        if index < count:
            await asyncio.sleep(max(0.0, started + index * interval - time.perf_counter()))
    client._check_done()
    try:
        await asyncio.wait_for(asyncio.shield(client.done), args.timeout)
    except TimeoutError:
        client.errors["timeout"] += client.in_flight + len(client.waiting)
    elapsed = time.perf_counter() - started
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()
    values = sorted(client.latencies)
    lags = sorted(client.lags)
    us = 1e6
    return {
        "rate": args.rate, "scheduled": count, "requests": len(values),
        "duration_us": int(elapsed * us), "achieved_rate": len(values) / elapsed,
        "bytes": client.bytes, "non2xx": client.non2xx, "errors": client.errors,
        "late_starts": client.late, "late_ms": args.late_ms,
        "start_lag_us": {"p50": percentile(lags, 0.5) * us, "p99": percentile(lags, 0.99) * us,
                         "max": (lags[-1] * us) if lags else 0.0},
        "latency_us": {"p50": percentile(values, 0.5) * us, "p90": percentile(values, 0.9) * us,
                       "p99": percentile(values, 0.99) * us,
                       "p999": percentile(values, 0.999) * us,
                       "mean": (sum(values) / len(values) * us) if values else 0.0,
                       "max": (values[-1] * us) if values else 0.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--write-fraction", type=float, default=0.0)
    parser.add_argument("--prefix", default="o")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for outstanding answers after the schedule")
    parser.add_argument("--late-ms", type=float, default=2.0,
                        help="a request sent more than this after its due time is a late start")
    args = parser.parse_args()
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    random.seed()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
