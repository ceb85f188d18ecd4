"""uvicorn's httptools protocol with bounds on what one client may make a worker hold.

httptools itself accepts headers of any size and number, and uvicorn sets no deadline on a
request's headers or body. This subclass counts the bytes of the request line and headers
before they reach the parser, counts headers and their lines as they are parsed, and puts a
deadline on the headers and on the body: past a bound the client gets a problem+json 431
(or 408, or 400 for a request the parser rejects) and the connection is closed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from entrypoints.http.json import dumps

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 414: b"URI Too Long",
            431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may send: header bytes (request line included), bytes of one header
    line, number of headers, and seconds for its headers and for its body to arrive whole."""

    header_bytes: int = 64 * 1024
    header_line_bytes: int = 16 * 1024
    headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0


class _Refused(Exception):
    """Raised from a parser callback: the request broke a limit (the parser stops there)."""


def problem_bytes(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 problem+json answer that closes the connection."""
    reason = _REASONS.get(status, b"Error")
    body = dumps({"type": "about:blank", "title": reason.decode(), "status": status,
                  "detail": detail})
    return b"".join([b"HTTP/1.1 %d %s\r\n" % (status, reason),
                     b"content-type: application/problem+json\r\n",
                     b"content-length: %d\r\n" % len(body),
                     b"x-content-type-options: nosniff\r\n",
                     b"cache-control: no-store\r\n",
                     b"connection: close\r\n\r\n", body])


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses oversized headers and cuts off slow clients."""

    def __init__(self, *args: Any, limits: Limits = Limits(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._in_headers = True  # between the start of a request and the end of its headers
        self._header_bytes = 0
        self._header_count = 0
        self._message_started = False
        self._refusal: tuple[int, str] | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # --- the connection ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, transport))  # a stream's, always
        self._arm_header_timer()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        limit = self.limits.header_bytes
        while data:
            if self._in_headers:  # feed no more than the headers may still take, plus one
                room = limit - self._header_bytes + 1
                part, data = data[:room], data[room:]
                self._header_bytes += len(part)
            else:
                part, data = data, b""
            super().data_received(part)
            if self.transport.is_closing():
                return
            if self._in_headers and self._header_bytes > limit:
                self._refuse(431, f"the request line and headers exceed {limit} bytes")
                return

    def send_400_response(self, msg: str) -> None:
        """The parser rejected the request, or a callback refused it: problem+json."""
        status, detail = self._refusal or (400, "the request is not valid HTTP/1.1")
        self._refuse(status, detail)

    # --- parser callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers, self._message_started = True, True
        self._header_count = 0
        self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.header_line_bytes:
            self._refusal = (414, f"the request target exceeds {self.limits.header_line_bytes} "
                                  "bytes")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.headers:
            self._refusal = (431, f"a request may carry at most {self.limits.headers} headers")
            raise _Refused
        if len(name) + len(value) + 4 > self.limits.header_line_bytes:
            self._refusal = (431, f"a header line exceeds {self.limits.header_line_bytes} bytes")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers, self._header_bytes = False, 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._message_started = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # --- deadlines --------------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout,
                                                      self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self._in_headers or self.transport.is_closing():
            return
        if self._message_started or self._header_bytes:
            self._refuse(408, f"the request headers did not arrive within "
                              f"{self.limits.header_timeout:g} s")
        else:  # an idle connection that never started a request: just close it
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            self.transport.write(problem_bytes(
                408, f"the request body did not arrive within {self.limits.body_timeout:g} s"))
        self.transport.close()  # the request sees a disconnect, and does nothing

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def _refuse(self, status: int, detail: str) -> None:
        self._cancel_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        if self.cycle is None or not self.cycle.response_started or self.cycle.response_complete:
            self.transport.write(problem_bytes(status, detail))
        self.transport.close()


def bounded_protocol(limits: Limits) -> Any:
    """The protocol class for uvicorn's `http=`, with these limits (picklable for workers)."""
    return partial(BoundedHttpToolsProtocol, limits=limits)
