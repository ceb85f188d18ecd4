"""Sharing the service fairly between tenants, as one pure ASGI middleware: after the key is
resolved (from the key cache, usually) and before anything touches the database, each tenant
request takes a token from its tenant's bucket and one of its tenant's concurrency slots.

Every answer to a tenant request carries `RateLimit-Policy` and `RateLimit`; a request past
the rate, or one that waited past CATALOG_TENANT_QUEUE_TIMEOUT for a slot, is a 429 that did
nothing (it never reaches the idempotency middleware, so no key is claimed or stored). The
operator API, /healthz, /readyz, /metrics and the documentation are not limited."""

import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import InvalidCredentials, Unavailable
from domain.model import Principal, RateLimit
from domain.ratelimit import Decision
from entrypoints.container import Container
from entrypoints.http.auth import Audience, principal_of
from entrypoints.http.observability import TENANT_REJECTIONS
from entrypoints.http.problems import problem
from entrypoints.http.routing import Routes

POLICY = "RateLimit-Policy"
REMAINING = "RateLimit"


def _seconds(value: float) -> int:
    return max(0, math.ceil(value - 1e-9))


def rate_headers(limit: RateLimit, decision: Decision) -> dict[str, str]:
    """The IETF RateLimit header fields for this decision."""
    window = max(1, _seconds(limit.burst / limit.rate))
    return {POLICY: f'"tenant";q={limit.burst};w={window}',
            REMAINING: f'"tenant";r={decision.remaining};t={_seconds(decision.reset_after)}'}


class TenantLimitsMiddleware:
    """Rate limit, then concurrency cap, for every tenant request (inside EdgeMiddleware)."""

    def __init__(self, app: ASGIApp, container: Container, routes: Routes) -> None:
        self.app, self.container, self.routes = app, container, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.routes.audience(scope) is not Audience.TENANT:
            await self.app(scope, receive, send)
            return
        principal = await self._principal(scope)
        if principal is None:  # no valid key, or no database: the route answers 401 or 503
            await self.app(scope, receive, send)
            return
        limit = principal.rate_limit or self.container.default_rate_limit()
        decision = await self.container.rate_limiter().hit(principal.tenant_id, limit)
        headers = rate_headers(limit, decision)
        if not decision.allowed:
            TENANT_REJECTIONS.labels("rate").inc()
            retry = str(max(1, _seconds(decision.retry_after)))
            await self._reject(scope, receive, send, headers, retry,
                               f"the tenant's rate limit is exhausted; retry in {retry} s")
            return

        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw]
            await send(message)

        async with self.container.tenant_concurrency().slot(principal.tenant_id) as held:
            if held:
                await self.app(scope, receive, send_with_headers)
                return
        TENANT_REJECTIONS.labels("concurrency").inc()
        await self._reject(scope, receive, send, headers, "1",
                           "too many of the tenant's requests are in flight; retry in 1 s")

    async def _principal(self, scope: Scope) -> Principal | None:
        try:
            return await principal_of(scope, self.container.authenticate())
        except (InvalidCredentials, Unavailable):
            return None

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, headers: dict[str, str],
                      retry_after: str, detail: str) -> None:
        await problem(429, detail, headers={"Retry-After": retry_after, **headers})(
            scope, receive, send)
