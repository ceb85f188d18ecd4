"""Fast JSON responses: orjson renders UUIDs and UTC datetimes (with Z) natively."""

from typing import Any

import orjson
from starlette.responses import Response


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_UTC_Z)


class JsonResponse(Response):
    """application/json rendered with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class ProblemResponse(JsonResponse):
    """An RFC 9457 problem document."""

    media_type = "application/problem+json"
