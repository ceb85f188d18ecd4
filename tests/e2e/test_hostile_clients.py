"""Hostile clients against a real `catalog serve` over a socket (SQLite, one worker): header
floods, slow headers and bodies, truncated bodies, malformed HTTP, HEAD, Host redirects.

Every raw exchange is bounded: a socket timeout on each read, and a deadline on each wait."""

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import pytest_asyncio

from tests.ops.harness import Service, Tenant, new_tenant, service_env

HEADER_TIMEOUT = 1.0  # short deadlines, so that the slow-client tests are quick
BODY_TIMEOUT = 1.0
READ_TIMEOUT = 15.0   # the longest any raw read here waits: far above both deadlines
BOOK = {"name": "n", "author": "a", "release_year": 1}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{directory / 'catalog.db'}"
    env = service_env(url, url, http_header_timeout=HEADER_TIMEOUT,
                      http_body_timeout=BODY_TIMEOUT, metrics_token="metrics-secret")
    with Service(env, directory) as running:
        asyncio.run(running.wait_for("/healthz"))
        yield running


@pytest_asyncio.fixture(scope="module")
async def tenant(service: Service) -> Tenant:
    return await new_tenant(service.base, "hostile")


def connect(service: Service) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=READ_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket's
    timeout on each read and by `limit` bytes)."""
    received = b""
    while len(received) < limit:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        received += chunk
    return received


def send_all(sock: socket.socket, data: bytes) -> bool:
    """False when the server closed the connection before taking all of it."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def exchange(service: Service, data: bytes) -> bytes:
    with connect(service) as sock:
        send_all(sock, data)
        return read_until_closed(sock)


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def assert_raw_problem(raw: bytes, status: int) -> dict[str, object]:
    got, headers, body = parse(raw)
    assert got == status, raw[:500]
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    problem = json.loads(body)
    assert problem["status"] == status and problem["detail"]
    return problem  # type: ignore[no-any-return]


def request_head(method: str, path: str, *lines: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: catalog.test\r\n" + "".join(
        f"{line}\r\n" for line in lines)).encode("latin-1")


async def books_named(service: Service, tenant: Tenant, name: str) -> list[object]:
    async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth, timeout=10) as c:
        response = await c.get("/v1/books", params={"limit": 100})
        assert response.status_code == 200
        return [b for b in response.json()["items"] if b["name"] == name]


async def user_status(service: Service, tenant: Tenant, name: str) -> int:
    async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth, timeout=10) as c:
        return (await c.get(f"/v1/users/by-name/{name}")).status_code


# --- header size and count ---------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    pytest.param(["X-Big: " + "a" * (70 * 1024)], id="one-header-over-the-total"),
    pytest.param(["X-Line: " + "a" * (17 * 1024)], id="one-line-over-16k"),
    pytest.param([f"X-{n}: v" for n in range(101)], id="101-headers"),
    pytest.param([f"X-{n}: " + "v" * 8000 for n in range(9)], id="lines-under-16k-over-64k"),
    pytest.param(["Cookie: " + "c=1; " * 4000], id="cookie-over-16k"),
])
def test_oversized_headers_are_431_and_closed(service: Service, extra: list[str]) -> None:
    raw = exchange(service, request_head("GET", "/healthz", *extra) + b"\r\n")
    assert_raw_problem(raw, 431)


def test_headers_within_the_limits_are_served(service: Service) -> None:
    lines = [f"X-{n}: v" for n in range(97)] + ["X-Line: " + "a" * (15 * 1024),
                                                 "Connection: close"]
    status, _, body = parse(exchange(service, request_head("GET", "/healthz", *lines) + b"\r\n"))
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_a_long_request_target_is_414(service: Service) -> None:
    raw = exchange(service, request_head("GET", "/v1/books?author=" + "a" * 20_000) + b"\r\n")
    assert_raw_problem(raw, 414)


def test_a_streamed_100_mib_header_is_cut_off_after_64_kib(service: Service) -> None:
    """The client keeps sending one endless header; the server answers 431 and closes at the
    bound, long before the client is done."""
    with connect(service) as sock:
        sent, chunk = 0, b"a" * 65536
        assert send_all(sock, request_head("GET", "/healthz") + b"X-Flood: ")
        while sent < 100 * 1024 * 1024 and send_all(sock, chunk):
            sent += len(chunk)
        assert sent < 100 * 1024 * 1024  # refused on the way
        assert_raw_problem(read_until_closed(sock), 431)


def _rss(service: Service) -> int:
    return int(psutil.Process(service.pid).memory_info().rss)


async def test_a_header_flood_keeps_memory_flat_and_serves_others(service: Service,
                                                                  tenant: Tenant) -> None:
    """20 connections each streaming a 20 MiB header while another tenant reads: every read
    succeeds, and the worker's memory grows by far less than one flood connection sends."""
    before = _rss(service)

    def flood() -> int:
        with connect(service) as sock:
            sent = 0
            send_all(sock, request_head("GET", "/v1/me") + b"X-Flood: ")
            while sent < 20 * 1024 * 1024 and send_all(sock, b"f" * 65536):
                sent += 65536
            read_until_closed(sock)
            return sent

    floods = [asyncio.to_thread(flood) for _ in range(20)]
    async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth,
                                 timeout=READ_TIMEOUT) as client:
        async def reads() -> list[int]:
            return [(await client.get("/v1/me")).status_code for _ in range(20)]

        results = await asyncio.gather(reads(), *floods)
    assert results[0] == [200] * 20
    assert all(sent < 20 * 1024 * 1024 for sent in results[1:])  # each one was refused
    assert _rss(service) - before < 32 * 1024 * 1024


# --- slow clients ------------------------------------------------------------------------


def test_slow_headers_are_cut_off_with_408(service: Service) -> None:
    """One header byte at a time, forever: the connection is answered 408 and closed after
    the header deadline, whatever the client still sends."""
    with connect(service) as sock:
        sock.settimeout(0.2)
        data, answer = request_head("GET", "/healthz", "X-Slow: " + "s" * 1000), b""
        deadline = time.monotonic() + READ_TIMEOUT
        for byte in data:
            if time.monotonic() > deadline or not send_all(sock, bytes([byte])):
                break
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            if answer:
                break
        sock.settimeout(READ_TIMEOUT)
        answer += read_until_closed(sock)
    assert_raw_problem(answer, 408)


def test_an_idle_connection_is_closed(service: Service) -> None:
    with connect(service) as sock:
        assert read_until_closed(sock) == b""  # closed by the server, with nothing sent


async def test_a_slow_body_is_cut_off_with_408_and_does_nothing(service: Service,
                                                                tenant: Tenant) -> None:
    name = f"slow-{uuid.uuid4().hex[:8]}"
    body = json.dumps({**BOOK, "name": name}).encode()
    with connect(service) as sock:
        send_all(sock, request_head("POST", "/v1/books", f"Authorization: Bearer {tenant.key}",
                                    "Content-Type: application/json",
                                    f"Content-Length: {len(body)}") + b"\r\n" + body[:5])
        raw = read_until_closed(sock)
    assert_raw_problem(raw, 408)
    assert await books_named(service, tenant, name) == []


# --- truncated bodies --------------------------------------------------------------------


async def _truncated(service: Service, data: bytes) -> bytes:
    """Send, then close our side: the request's body can never be completed."""
    with connect(service) as sock:
        send_all(sock, data)
        sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock)


async def test_a_body_shorter_than_its_content_length_does_nothing(service: Service,
                                                                   tenant: Tenant) -> None:
    name = f"cut-{uuid.uuid4().hex[:8]}"
    auth = f"Authorization: Bearer {tenant.key}"
    body = json.dumps({**BOOK, "name": name}).encode()
    for sent in (body[:-1], body[:1], b""):
        raw = await _truncated(service, request_head(
            "POST", "/v1/books", auth, "Content-Type: application/json",
            f"Content-Length: {len(body)}") + b"\r\n" + sent)
        assert raw == b""  # nobody left to answer
    user = f"cut-user-{uuid.uuid4().hex[:8]}"
    await _truncated(service, request_head("POST", f"/v1/users/by-name/{user}", auth,
                                           "Content-Type: application/json",
                                           "Content-Length: 20") + b"\r\n")
    await _truncated(service, request_head("PUT", f"/v1/users/by-name/{user}", auth,
                                           "Content-Type: application/json",
                                           "Content-Length: 20") + b'\r\n{"full_name": "x"}')
    await service.wait_for("/healthz")
    assert await books_named(service, tenant, name) == []
    assert await user_status(service, tenant, user) == 404


async def test_a_chunked_body_without_its_last_chunk_does_nothing(service: Service,
                                                                  tenant: Tenant) -> None:
    name = f"chunk-{uuid.uuid4().hex[:8]}"
    body = json.dumps({**BOOK, "name": name}).encode()
    chunked = b"%x\r\n%s\r\n" % (len(body), body)
    head = request_head("POST", "/v1/books", f"Authorization: Bearer {tenant.key}",
                        "Content-Type: application/json", "Transfer-Encoding: chunked")
    for tail in (b"", b"0\r\n", b"0"):  # the whole body, and no (or a partial) last chunk
        assert await _truncated(service, head + b"\r\n" + chunked + tail) == b""
    assert await books_named(service, tenant, name) == []
    whole = exchange(service, head + b"Connection: close\r\n\r\n" + chunked + b"0\r\n\r\n")
    assert parse(whole)[0] == 201  # the same request, complete, is served
    assert len(await books_named(service, tenant, name)) == 1


# --- malformed HTTP, HEAD, redirects, headers --------------------------------------------


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
    b"POST /v1/books HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/books HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
])
def test_malformed_http_is_a_problem_400(service: Service, data: bytes) -> None:
    assert_raw_problem(exchange(service, data), 400)


async def test_head_works_wherever_get_does(service: Service, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth, timeout=10) as c:
        created = await c.post("/v1/books", json=BOOK)
        for path in ("/healthz", "/v1/me", "/v1/books", f"/v1/books/{created.json()['id']}",
                     "/v1/cities/biggest", "/openapi.json", "/docs"):
            get, head = await c.get(path), await c.head(path)
            assert get.status_code == head.status_code == 200, path
            assert head.content == b""
            assert head.headers["content-length"] == get.headers["content-length"]
            assert head.headers.get("etag") == get.headers.get("etag")
        not_get = await c.head("/v1/nothing-here")  # no route at all
        assert not_get.status_code == 404
        post_only = await c.request("HEAD", "/v1/tenants/x/api-keys")
        assert post_only.status_code in (401, 403, 405)


async def test_no_redirect_is_built_from_the_host_header(service: Service,
                                                         tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth, timeout=10) as c:
        for path in ("/v1/me/", "/v1/books/", "/healthz/", "/docs/"):
            response = await c.get(path, headers={"Host": "evil.example.com"})
            assert response.status_code == 404, path
            assert "location" not in response.headers
            assert response.headers["content-type"] == "application/problem+json"


async def test_security_headers_and_metrics_token(service: Service, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=service.base, timeout=10) as c:
        for path, auth in (("/healthz", {}), ("/v1/me", tenant.auth), ("/nope", {}),
                           ("/docs", {})):
            response = await c.get(path, headers=auth)
            assert response.headers["x-content-type-options"] == "nosniff", path
        assert (await c.get("/v1/me", headers=tenant.auth)).headers["cache-control"] == "no-store"
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code \
            == 401
        allowed = await c.get("/metrics", headers={"Authorization": "Bearer metrics-secret"})
        assert allowed.status_code == 200 and "catalog_http_requests_total" in allowed.text


async def test_docs_assets_are_served_by_the_service(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.base, timeout=10) as c:
        page = await c.get("/docs")
        assert page.status_code == 200
        assets = [part.split('"')[0] for part in page.text.split('src="')[1:]]
        assets += [part.split('"')[0] for part in page.text.split('href="')[1:]]
        assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
        for asset in assets:
            assert (await c.get(asset)).status_code == 200, asset


async def test_one_client_never_stalls_another(service: Service, tenant: Tenant) -> None:
    """A slowloris on headers and one on a body, held open, while another tenant reads."""
    slow = [connect(service) for _ in range(10)]
    try:
        for n, sock in enumerate(slow):
            send_all(sock, request_head("POST", "/v1/books", "Content-Length: 100",
                                        "Content-Type: application/json") + (
                b"\r\n{" if n % 2 else b"X-Slow: a"))
        async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth,
                                     timeout=READ_TIMEOUT) as client:
            statuses = [(await client.get("/v1/me")).status_code for _ in range(10)]
        assert statuses == [200] * 10
        answers = await asyncio.gather(*(asyncio.to_thread(read_until_closed, s)
                                         for s in slow))
        for answer in answers:
            assert_raw_problem(answer, 408)
    finally:
        for sock in slow:
            sock.close()


@pytest.fixture(autouse=True)
def _service_alive(service: Service) -> AsyncIterator[None]:  # type: ignore[misc]
    yield
    assert service.running, service.log()
