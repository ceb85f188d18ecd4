"""The HTTP edge as one pure ASGI middleware: request ids, body size and media type."""

import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from entrypoints.http.problems import problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class _TooLarge(Exception):
    pass


class EdgeMiddleware:
    """Echoes or makes X-Request-ID; answers 413 past 1 MiB (sized or chunked) and 415 to
    bodies that are not JSON, before any route runs."""

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
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        if scope["method"] in _BODY_METHODS:
            rejection = await self._read_body(scope, receive, headers)
            if isinstance(rejection, tuple):
                status, detail = rejection
                await problem(status, detail)(scope, receive, send_with_id)
                return
            receive = rejection
        await self.app(scope, receive, send_with_id)

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
        if body and not _is_json(headers.get(b"content-type", b"").decode("latin-1")):
            return 415, "the request body must be application/json"
        return replay


async def buffer_body(receive: Receive, max_bytes: int | None = None,
                      ) -> tuple[bytes | None, Receive]:
    """The whole request body (None past `max_bytes`), and a receive that replays it once."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
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
