"""A small closed-loop HTTP/1.1 load generator, for machines without wrk.

    python -m bench.pyload --url http://127.0.0.1:PORT --keys FILE --write-fraction 0.2 \
        --prefix NAME --connections 32 --duration 10

Each of `--connections` keep-alive connections sends a request, reads the whole answer, and
sends the next, until the time is up; latencies are kept per request. It prints one line
`BENCH_JSON {...}` in the shape bench/mix.lua's done() prints. Built on asyncio protocols
(uvloop when installed) and raw bytes, so it costs little CPU per request (still more than wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class Load:
    def __init__(self, host: str, port: int, keys: list[str], write_fraction: float,
                 prefix: str, deadline: float) -> None:
        self.host, self.port, self.deadline = host, port, deadline
        self.write_fraction, self.prefix = write_fraction, prefix
        self.keys = keys
        self.reads = [(f"GET /v1/cities/biggest?limit=20 HTTP/1.1\r\nHost: {host}:{port}\r\n"
                       f"Authorization: Bearer {key}\r\n\r\n").encode() for key in keys]
        self.latencies: list[float] = []
        self.non2xx = self.requests = self.bytes = 0
        self.errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
        self.counter = 0

    def next_request(self) -> bytes:
        i = random.randrange(len(self.keys))
        if self.write_fraction > 0 and (self.write_fraction >= 1
                                        or random.random() < self.write_fraction):
            self.counter += 1
            body = (f'{{"name":"{self.prefix}-{self.counter}",'
                    f'"population":{random.randrange(2_000_000_000)}}}').encode()
            return (f"POST /v1/cities HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Authorization: Bearer {self.keys[i]}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        return self.reads[i]


class Connection(asyncio.Protocol):
    def __init__(self, load: Load, finished: asyncio.Future[None]) -> None:
        self.load, self.finished = load, finished
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if time.monotonic() >= self.load.deadline:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.load.next_request())

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
            load = self.load
            load.latencies.append(time.perf_counter() - self.sent_at)
            load.requests += 1
            load.bytes += total
            if status > 399:
                load.non2xx += 1
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or self.load.deadline > time.monotonic():
            self.load.errors["read"] += 1
        if not self.finished.done():
            self.finished.set_result(None)


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    keys = [line.strip() for line in open(args.keys) if line.strip()]
    started = time.monotonic()
    load = Load(url.hostname or "127.0.0.1", url.port or 80, keys, args.write_fraction,
                args.prefix, started + args.duration)
    loop = asyncio.get_running_loop()
    waiters = []
    for _ in range(args.connections):
        finished: asyncio.Future[None] = loop.create_future()
        try:
            await loop.create_connection(lambda f=finished: Connection(load, f),
                                         load.host, load.port)
            waiters.append(finished)
        except OSError:
            load.errors["connect"] += 1
    try:
        await asyncio.wait_for(asyncio.gather(*waiters), args.duration + args.timeout)
    except TimeoutError:
        load.errors["timeout"] += 1
    elapsed = time.monotonic() - started
    values = sorted(load.latencies)
    us = 1e6
    return {"requests": load.requests, "duration_us": int(elapsed * us), "bytes": load.bytes,
            "non2xx": load.non2xx, "errors": load.errors,
            "latency_us": {"p50": percentile(values, 0.5) * us, "p90": percentile(values, 0.9) * us,
                           "p99": percentile(values, 0.99) * us,
                           "mean": (sum(values) / len(values) * us) if values else 0.0,
                           "max": (values[-1] * us) if values else 0.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--write-fraction", type=float, default=0.0)
    parser.add_argument("--prefix", default="p")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
