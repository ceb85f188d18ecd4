"""Metrics (Prometheus) and one log line per request, as one pure ASGI middleware.

Labels are the route template, the method and the status class: never a tenant, an id or a
raw path, so the series stay few however many tenants there are."""

import logging
import os
import time
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest, multiprocess)

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("catalog.access")

REQUESTS = Counter("catalog_http_requests_total", "HTTP requests answered",
                   ["method", "route", "status_class"])
LATENCY = Histogram("catalog_http_request_duration_seconds", "Time to answer HTTP requests",
                    ["method", "route", "status_class"],
                    buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
IN_FLIGHT = Gauge("catalog_http_requests_in_flight", "HTTP requests being answered",
                  multiprocess_mode="livesum")
POOL_SIZE = Gauge("catalog_db_pool_size", "Connections the pool keeps",
                  multiprocess_mode="livesum")
POOL_CHECKED_OUT = Gauge("catalog_db_pool_checked_out", "Connections in use",
                         multiprocess_mode="livesum")
POOL_OVERFLOW = Gauge("catalog_db_pool_overflow", "Connections beyond the pool size",
                      multiprocess_mode="livesum")
DB_ERRORS = Counter("catalog_db_errors_total", "Database errors, by kind", ["kind"])
TENANT_REJECTIONS = Counter("catalog_tenant_requests_rejected_total",
                            "Tenant requests answered 429, by reason (rate, concurrency)",
                            ["reason"])
REDIS_FALLBACKS = Counter("catalog_ratelimit_redis_fallbacks_total",
                          "Rate-limit decisions taken locally because Redis failed or was slow")


def _route_of(scope: Scope) -> str:
    route = scope.get("route")  # its template without convertors: /v1/books/{record_id}
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"


class _Series:
    """The counter's and the histogram's children of each (method, route, status class),
    looked up once: `labels()` validates its arguments and takes a lock on every call. The
    label values are few (the parser's methods, the route templates, five classes); past
    `most` the lookups are simply not remembered."""

    def __init__(self, most: int = 2048) -> None:
        self.most = most
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def __call__(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status // 100)
        found = self._children.get(key)
        if found is None:
            status_class = f"{status // 100}xx"
            found = (REQUESTS.labels(method, route, status_class),
                     LATENCY.labels(method, route, status_class))
            if len(self._children) < self.most:
                self._children[key] = found
        return found


_series = _Series()
_HERE = __file__


class ObservabilityMiddleware:
    """Counts, times and logs every HTTP request (outermost, so rejections count too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            method, route = scope["method"], _route_of(scope)
            counter, histogram = _series(method, route, status)
            counter.inc()
            histogram.observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                state = scope.get("state", {})
                fields = {"request_id": state.get("request_id"),
                          "tenant_id": state.get("tenant_id"), "method": method,
                          "route": route, "status": status,
                          "duration_ms": round(elapsed * 1000, 2)}
                # made and handled directly: log.info's record, without its walk up the stack
                # for the caller's file and line, which this line never shows
                log.handle(log.makeRecord(log.name, logging.INFO, _HERE, 0, "request", (),
                                          None, extra=fields))


def render_metrics(pool: Any | None) -> tuple[bytes, str]:
    """The Prometheus text exposition, across worker processes when there are several."""
    if pool is not None and hasattr(pool, "checkedout"):
        POOL_SIZE.set(pool.size())
        POOL_CHECKED_OUT.set(pool.checkedout())
        POOL_OVERFLOW.set(max(pool.overflow(), 0))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
