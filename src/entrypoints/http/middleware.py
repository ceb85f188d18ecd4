"""The HTTP edge as one pure ASGI middleware: request ids, security headers, HEAD, and the
body: whole, bounded in size and of a JSON media type, or the request does nothing."""

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import problem

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_PRIVATE_PREFIX = "/v1/"  # tenant data, and the answers that carry new keys


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


_NOT_JSON = (422, "the body is not valid JSON")


class ClientGone(Exception):
    """The client went away before its request body arrived whole."""


class EdgeMiddleware:
    """Echoes or makes X-Request-ID; adds `nosniff` everywhere and `no-store` under /v1/;
    serves HEAD as GET without the body; answers 413 past 1 MiB (sized or chunked) and 415
    to bodies that are not JSON, before any route runs; and runs nothing at all for a
    request whose body did not arrive whole (the client went away)."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        presented = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        added = [(b"x-request-id", request_id.encode()), _NOSNIFF]
        if scope["path"].startswith(_PRIVATE_PREFIX):
            added.append(_NO_STORE)
        head, original = scope["method"] == "HEAD", scope
        if head:  # routed as GET; the body is dropped here (the server drops it too)
            scope = {**scope, "method": "GET"}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added]
            elif head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        if scope["method"] in _BODY_METHODS or b"content-length" in headers \
                or b"transfer-encoding" in headers:
            try:
                rejection = await self._read_body(scope, receive, headers)
            except ClientGone:
                return  # nobody to answer, and nothing is done
            if isinstance(rejection, tuple):
                status, detail = rejection
                errors = [{"field": "", "location": "body", "message": detail}] \
                    if rejection == _NOT_JSON else None
                await problem(status, detail, errors=errors)(scope, receive, send_with_id)
                return
            receive = rejection
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if head and "route" in scope:  # for the metrics and the log line
                original["route"] = scope["route"]

    async def _read_body(self, scope: Scope, receive: Receive,
                         headers: dict[bytes, bytes]) -> Receive | tuple[int, str]:
        """Buffer the body (at most max_body bytes) and hand the app a replaying receive."""
        too_large = (413, f"the request body exceeds {self.max_body} bytes")
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return too_large if declared.isdigit() else (400, "invalid Content-Length")
        body, replay = await buffer_body(receive, self.max_body)
        if body is None:
            return too_large
        if body and scope["method"] in _BODY_METHODS:
            if not _is_json(headers.get(b"content-type", b"").decode("latin-1")):
                return 415, "the request body must be application/json"
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                return _NOT_JSON
        return replay


async def buffer_body(receive: Receive, max_bytes: int | None = None,
                      ) -> tuple[bytes | None, Receive]:
    """The whole request body (None past `max_bytes`), and a receive that replays it once.
    Raises ClientGone when the client disconnects before the body is complete."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            return None, receive
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body, replayed = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
