"""Idempotency-Key on every POST, as one pure ASGI middleware inside EdgeMiddleware (which has
already buffered the body and checked its size and type).

A key belongs to the caller's tenant, or to the operator on /v1/tenants. A retry with the same
key and request replays the first answer with `Idempotent-Replayed: true` and runs nothing;
another request under the key is a 422; a retry while the first still runs is a 409. Answers
of 5xx, 401, 403, 408 and 429, failures and cancelled requests release the key, so that a
retry runs again.

A claim is a lease (CATALOG_IDEMPOTENCY_LEASE_SECONDS), renewed while its request runs: when
the attempt dies with no chance to release it (the process killed, the database gone when
it tried), the claim lapses after one lease, and a retry then runs again. So a key is never
wedged; the price is the few milliseconds between a write's commit and the recording of its
answer: an attempt killed exactly then is run again by its retry (which, for a resource with
a unique name, answers 409 or finds the existing record)."""

import asyncio
import logging
import re
from typing import Any
from uuid import UUID

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import InvalidCredentials, NotFound, Unavailable
from domain.idempotency import OPERATOR_SCOPE, InProgress, Mismatch, Replay, SavedResponse
from domain.use_cases.idempotency import IdempotentRequests
from entrypoints.container import Container
from entrypoints.http.auth import Audience, bearer_of, is_operator_token, principal_of
from entrypoints.http.middleware import buffer_body
from entrypoints.http.problems import RETRY_AFTER_SECONDS, problem
from entrypoints.http.routing import Routes
from entrypoints.settings import Settings

log = logging.getLogger("catalog.idempotency")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_KEPT_HEADERS = frozenset({"content-type", "location", "etag"})
_RETRYABLE = frozenset({401, 403, 408, 429})


def is_kept(status: int) -> bool:
    """Whether an answer is replayed to retries, or releases the key for them to run again."""
    return status < 500 and status not in _RETRYABLE


def _header(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


class IdempotencyMiddleware:
    """Claims the key before the route runs, then records, replays or refuses."""

    def __init__(self, app: ASGIApp, container: Container, settings: Settings,
                 routes: Routes) -> None:
        self.app, self.container, self.settings, self.routes = app, container, settings, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        keys = _header(scope, b"idempotency-key")
        if not keys:
            await self.app(scope, receive, send)
            return
        try:
            scope_id = await self._scope_of(scope)
        except Unavailable as error:
            await _unavailable(error)(scope, receive, send)
            return
        if scope_id is None:  # no valid credentials: the route answers 401 or 403
            await self.app(scope, receive, send)
            return
        if len(keys) != 1 or not _KEY.fullmatch(keys[0]):
            await _bad_key("must be sent once, as 1 to 255 printable ASCII characters")(
                scope, receive, send)
            return
        body, receive = await buffer_body(receive)  # EdgeMiddleware has bounded it already
        path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
        cases: IdempotentRequests = self.container.idempotent_requests()
        try:
            outcome = await cases.begin(scope_id, keys[0],
                                        [b"POST", path, scope["query_string"], body])
        except Unavailable as error:
            await _unavailable(error)(scope, receive, send)
            return
        except NotFound:  # the key's tenant is gone (deleted since its key was cached)
            await problem(401, "a valid API key is required",
                          headers={"WWW-Authenticate": 'Bearer realm="catalog"'})(
                scope, receive, send)
            return
        if isinstance(outcome, Replay):
            await _replay(outcome.response, send)
        elif isinstance(outcome, Mismatch):
            await _bad_key("was first used with another request")(scope, receive, send)
        elif isinstance(outcome, InProgress):
            await problem(409, "a request with this Idempotency-Key is still running; retry "
                               "later", headers={"Retry-After": RETRY_AFTER_SECONDS})(
                scope, receive, send)
        else:
            await self._run(scope, receive, send, cases, scope_id, keys[0])

    async def _scope_of(self, scope: Scope) -> UUID | None:
        """The operator's scope on the operator's routes, else the tenant of the caller's API
        key; None: no valid credentials (or a route that needs none)."""
        audience = self.routes.audience(scope)  # the answer is logged under the route it names
        if audience is Audience.OPERATOR:
            return OPERATOR_SCOPE if is_operator_token(self.settings, bearer_of(scope)) else None
        if audience is Audience.ANYONE:
            return None
        try:
            return (await principal_of(scope, self.container.authenticate())).tenant_id
        except InvalidCredentials:
            return None

    async def _run(self, scope: Scope, receive: Receive, send: Send, cases: IdempotentRequests,
                   scope_id: UUID, key: str) -> None:
        """Run the request; record its answer before the last byte of it leaves."""
        status, headers, chunks, settled = 500, (), [], False

        async def capture(message: Message) -> None:
            nonlocal status, headers, settled
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = tuple((name.decode("latin-1"), value.decode("latin-1"))
                                for name, value in message.get("headers", ())
                                if name.decode("latin-1").lower() in _KEPT_HEADERS)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and not settled:
                    settled = True
                    await _settle(cases, scope_id, key,
                                  SavedResponse(status, headers, b"".join(chunks)))
            await send(message)

        done = asyncio.Event()
        renewing = asyncio.create_task(_keep_claim(cases, scope_id, key, done))
        try:
            await self.app(scope, receive, capture)
        finally:
            done.set()  # never cancelled mid-transaction: a renewal under way finishes first
            with anyio.CancelScope(shield=True):
                await renewing
            if not settled:  # an exception, a cancellation, or no answer at all
                with anyio.CancelScope(shield=True):
                    await _release(cases, scope_id, key)


async def _keep_claim(cases: IdempotentRequests, scope_id: UUID, key: str,
                      done: asyncio.Event) -> None:
    """Renew the claim every third of its lease until the request is done."""
    while True:
        try:
            await asyncio.wait_for(done.wait(), cases.lease_seconds / 3)
            return
        except TimeoutError:
            pass
        try:
            await cases.renew(scope_id, key)
        except Exception:  # noqa: BLE001 - the next renewal tries again; the lease bounds it
            log.warning("could not renew the claim of an Idempotency-Key")


async def _settle(cases: IdempotentRequests, scope_id: UUID, key: str,
                  response: SavedResponse) -> None:
    if not is_kept(response.status):
        await _release(cases, scope_id, key)
        return
    try:
        await cases.complete(scope_id, key, response)
    except Exception:  # the claim lapses after its lease; a retry then runs again
        log.exception("could not record the answer under an Idempotency-Key")


async def _release(cases: IdempotentRequests, scope_id: UUID, key: str) -> None:
    try:
        await cases.abandon(scope_id, key)
    except Exception:
        log.exception("could not release an Idempotency-Key; its claim lapses after its lease")


async def _replay(response: SavedResponse, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1"))
               for name, value in response.headers]
    headers += [(b"content-length", str(len(response.body)).encode()),
                (REPLAYED.lower().encode(), b"true")]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})


def _bad_key(message: str) -> Any:
    return problem(422, f"the {HEADER} {message}", errors=[
        {"field": HEADER, "location": "header", "message": message}])


def _unavailable(error: Unavailable) -> Any:
    return problem(503, str(error), headers={"Retry-After": RETRY_AFTER_SECONDS})
