"""Fast JSON responses: orjson renders UUIDs and UTC datetimes (with Z) natively."""

from typing import Any
from uuid import UUID

import orjson
from starlette.responses import Response


def _fallback(value: Any) -> str:
    if isinstance(value, UUID):  # asyncpg's own UUID, a subclass orjson does not take
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_fallback, option=orjson.OPT_UTC_Z)


class JsonResponse(Response):
    """application/json rendered with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class ProblemResponse(JsonResponse):
    """An RFC 9457 problem document."""

    media_type = "application/problem+json"
