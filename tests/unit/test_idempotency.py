"""Idempotency: the cipher, the use cases on the memory store, and the middleware around a
bare ASGI app (failures, cancellations and answers not worth keeping release the key)."""

import asyncio
from typing import Any
from uuid import uuid4

import pytest

from adapters.memory import MemoryIdempotencyStore, MemoryStore
from adapters.security.idempotency import AesGcmIdempotencyCipher
from domain.model import Principal
from domain.idempotency import (OPERATOR_SCOPE, InProgress, Mismatch, Replay, SavedResponse,
                                Started)
from domain.use_cases.idempotency import IdempotentRequests, PurgeExpiredIdempotencyKeys
from entrypoints.http.app import create_app
from entrypoints.http.idempotency import IdempotencyMiddleware, is_kept
from entrypoints.http.routing import Routes
from entrypoints.settings import Settings
from tests.unit.conftest import SteppingClock

CIPHER = AesGcmIdempotencyCipher()
ANSWER = SavedResponse(201, (("content-type", "application/json"), ("location", "/v1/x")),
                       b'{"key":"ck_secret"}')


def test_sealed_answers_open_only_with_their_key_and_scope() -> None:
    scope, other = uuid4(), uuid4()
    sealed = CIPHER.seal(scope, "key-1", ANSWER)
    assert b"ck_secret" not in sealed and b"/v1/x" not in sealed
    assert CIPHER.open(scope, "key-1", sealed) == ANSWER
    assert CIPHER.open(scope, "key-2", sealed) is None
    assert CIPHER.open(other, "key-1", sealed) is None
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert CIPHER.open(scope, "key-1", tampered) is None
    assert CIPHER.open(scope, "key-1", b"") is None
    assert CIPHER.seal(scope, "key-1", ANSWER) != sealed  # a fresh nonce each time


def test_hashes_hide_the_key_and_depend_on_scope_and_request() -> None:
    scope, other = uuid4(), uuid4()
    key_hash = CIPHER.key_hash(scope, "key-1")
    assert len(key_hash) == 64 and "key-1" not in key_hash
    assert key_hash == CIPHER.key_hash(scope, "key-1")
    assert key_hash not in {CIPHER.key_hash(other, "key-1"), CIPHER.key_hash(scope, "key-2")}
    request = [b"POST", b"/v1/books", b"", b"{}"]
    assert CIPHER.request_hash(scope, "k", request) == CIPHER.request_hash(scope, "k", request)
    assert len({CIPHER.request_hash(scope, "k", request),
                CIPHER.request_hash(scope, "k2", request),
                CIPHER.request_hash(other, "k", request),
                CIPHER.request_hash(scope, "k", [b"POST", b"/v1/books", b"", b"{ }"]),
                CIPHER.request_hash(scope, "k", [b"POST", b"/v1/book", b"s", b"{}"])}) == 5


class _EveryTenant(dict):  # type: ignore[type-arg]
    """A tenants table in which every scope these tests make up exists."""

    def __contains__(self, key: object) -> bool:
        return True


def open_store() -> MemoryStore:
    store = MemoryStore()
    store.tables["tenants"] = _EveryTenant()
    return store


@pytest.fixture
def requests_(clock: SteppingClock) -> IdempotentRequests:
    return IdempotentRequests(MemoryIdempotencyStore(open_store()), CIPHER, clock, 60)


async def test_use_case_replays_until_the_key_expires(requests_: IdempotentRequests,
                                                      clock: SteppingClock) -> None:
    scope, request = uuid4(), [b"POST", b"/v1/books", b"", b"{}"]
    assert await requests_.begin(scope, "k", request) == Started()
    assert await requests_.begin(scope, "k", request) == InProgress()
    await requests_.complete(scope, "k", ANSWER)
    assert await requests_.begin(scope, "k", request) == Replay(ANSWER)
    assert await requests_.begin(scope, "k", [*request[:3], b"[]"]) == Mismatch()
    assert await requests_.begin(OPERATOR_SCOPE, "k", request) == Started()
    clock.advance(61)
    assert await requests_.begin(scope, "k", [*request[:3], b"[]"]) == Started()


async def test_purge_use_case_deletes_in_batches(clock: SteppingClock) -> None:
    store = MemoryIdempotencyStore(open_store())
    requests = IdempotentRequests(store, CIPHER, clock, 60)
    for scope in (uuid4(), uuid4(), OPERATOR_SCOPE):
        for n in range(3):
            await requests.begin(scope, f"k{n}", [b"x"])
    purge = PurgeExpiredIdempotencyKeys(store, clock)
    assert await purge(batch_size=2, pause_seconds=0) == 0
    clock.advance(61)
    assert await purge(batch_size=2, pause_seconds=0) == 9
    assert await purge(batch_size=2, pause_seconds=0) == 0


@pytest.mark.parametrize(("status", "kept"), [(200, True), (201, True), (404, True),
                                              (409, True), (422, True), (401, False),
                                              (403, False), (408, False), (429, False),
                                              (500, False), (503, False)])
def test_which_answers_are_kept(status: int, kept: bool) -> None:
    assert is_kept(status) is kept


class FakeContainer:
    def __init__(self, requests: IdempotentRequests) -> None:
        self._requests = requests

    def idempotent_requests(self) -> IdempotentRequests:
        return self._requests

    def authenticate(self) -> Any:
        async def authenticate(token: str) -> Any:
            return Principal(OPERATOR_SCOPE, OPERATOR_SCOPE, ("read", "write"))
        return authenticate


async def call(middleware: IdempotencyMiddleware, key: bytes = b"k",
               body: bytes = b"{}") -> tuple[int, dict[str, str], bytes]:
    scope = {"type": "http", "method": "POST", "path": "/v1/books", "raw_path": b"/v1/books",
             "query_string": b"", "headers": [(b"idempotency-key", key),
                                             (b"authorization", b"Bearer anything")]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def app_answering(status: int, calls: list[int]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(status)
        assert (await receive())["body"] == b"{}"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"x-other", b"no")]})
        await send({"type": "http.response.body", "body": b'{"n":', "more_body": True})
        await send({"type": "http.response.body", "body": b"1}"})
    return app


def middleware_for(app: Any, requests: IdempotentRequests) -> IdempotencyMiddleware:
    # the service's own routes: POST /v1/books answers a tenant's key
    routes = Routes(create_app(Settings()).router.routes)
    return IdempotencyMiddleware(app, FakeContainer(requests), Settings(), routes)


@pytest.mark.parametrize("status", [201, 404])
async def test_kept_answers_are_replayed(requests_: IdempotentRequests, status: int) -> None:
    calls: list[int] = []
    middleware = middleware_for(app_answering(status, calls), requests_)
    first = await call(middleware)
    again = await call(middleware)
    assert calls == [status]
    assert first[0] == again[0] == status and first[2] == again[2] == b'{"n":1}'
    assert "idempotent-replayed" not in first[1]
    assert again[1]["idempotent-replayed"] == "true"
    assert again[1]["content-type"] == "application/json" and "x-other" not in again[1]


@pytest.mark.parametrize("status", [500, 503, 429, 401])
async def test_other_answers_release_the_key(requests_: IdempotentRequests, status: int) -> None:
    calls: list[int] = []
    middleware = middleware_for(app_answering(status, calls), requests_)
    assert (await call(middleware))[0] == status
    assert (await call(middleware))[0] == status
    assert calls == [status, status]


async def test_a_failure_releases_the_key(requests_: IdempotentRequests) -> None:
    attempts = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("boom")
        await app_answering(201, [])(scope, receive, send)

    middleware = middleware_for(app, requests_)
    with pytest.raises(RuntimeError):
        await call(middleware)
    assert (await call(middleware))[0] == 201
    assert (await call(middleware))[1]["idempotent-replayed"] == "true"


async def test_a_running_request_makes_retries_409_and_a_cancelled_one_releases(
        requests_: IdempotentRequests) -> None:
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await finish.wait()
        await app_answering(201, [])(scope, receive, send)

    middleware = middleware_for(slow, requests_)
    first = asyncio.create_task(call(middleware))
    await started.wait()
    status, headers, _ = await call(middleware)
    assert status == 409 and headers["retry-after"]
    assert (await call(middleware, body=b"[]"))[0] == 422
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    finish.set()
    assert (await call(middleware))[0] == 201  # ran again


@pytest.mark.parametrize("key", [b"", b"x" * 256, "caf\u00e9".encode(), b"tab\there", b"nul\x00"])
async def test_malformed_keys_are_422(requests_: IdempotentRequests, key: bytes) -> None:
    calls: list[int] = []
    middleware = middleware_for(app_answering(201, calls), requests_)
    status, _, body = await call(middleware, key=key)
    assert status == 422 and b"Idempotency-Key" in body and calls == []
    assert (await call(middleware, key=b"x" * 255))[0] == 201


async def test_the_background_purge_survives_failures_and_stops_cleanly(
        caplog: pytest.LogCaptureFixture) -> None:
    from entrypoints.purging import purging

    runs: list[int] = []

    async def purge() -> int:
        runs.append(len(runs))
        if len(runs) == 1:
            raise ConnectionError("the database is away")
        return 2

    class Container:
        def purge_idempotency_keys(self) -> Any:
            return purge

    async with purging(Container(), 0.01) as task:  # type: ignore[arg-type]
        while len(runs) < 3:
            await asyncio.sleep(0.01)
    assert task.cancelled()
    assert "deleting expired idempotency keys failed" in caplog.text


async def test_a_running_request_renews_its_claim_and_a_dead_one_lapses() -> None:
    """On the real clock, with a lease of 1 s: a request running for several leases keeps
    its key (retries get 409), while a claim nobody renews is free again after its lease."""
    from adapters.clock import SystemClock

    lease = 1.0
    requests = IdempotentRequests(MemoryIdempotencyStore(open_store()), CIPHER, SystemClock(),
                                  60, lease_seconds=lease)
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await finish.wait()
        await app_answering(201, [])(scope, receive, send)

    middleware = middleware_for(slow, requests)
    first = asyncio.create_task(call(middleware))
    await started.wait()
    for _ in range(3):  # three leases: the claim is renewed all along
        await asyncio.sleep(lease)
        assert (await call(middleware))[0] == 409
    finish.set()
    assert (await first)[0] == 201
    assert (await call(middleware))[1]["idempotent-replayed"] == "true"

    dead = [b"POST", b"/v1/books", b"", b"{}"]
    assert await requests.begin(OPERATOR_SCOPE, "dead", dead) == Started()  # never settled
    assert await requests.begin(OPERATOR_SCOPE, "dead", dead) == InProgress()
    await asyncio.sleep(lease * 1.5)
    assert await requests.begin(OPERATOR_SCOPE, "dead", dead) == Started()
