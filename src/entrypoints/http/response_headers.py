"""The response headers the service sends, declared in the OpenAPI document in one place.

Each header says which answers carry it; `declare` adds it to every such response of the
document, so that a generated client can read it as a typed header. A new header (say, a rate
limit's) is one more entry in HEADERS."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from entrypoints.http.limits import POLICY, REMAINING

Operation = dict[str, Any]


@dataclass(frozen=True)
class ResponseHeader:
    name: str
    description: str
    schema: dict[str, Any]
    sent: Callable[[str, str, Operation, str], bool]  # (path, method, operation, status)


def _record_schema(document: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether a response's body is one record (it has a `version`, which its ETag carries)."""
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    if not ref:
        return False
    schema = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return "version" in schema.get("properties", {})


def _etag(document: dict[str, Any]) -> Callable[[str, str, Operation, str], bool]:
    def sent(path: str, method: str, operation: Operation, status: str) -> bool:
        return status == "304" or (status in ("200", "201") and _record_schema(
            document, operation["responses"][status]))
    return sent


def _uses(operation: Operation, scheme: str) -> bool:
    return any(scheme in requirement for requirement in operation.get("security", []))


def is_tenant_operation(operation: Operation) -> bool:
    """Whether an operation answers a tenant's API key (and so is rate limited)."""
    return _uses(operation, "ApiKey")


def _location(path: str, method: str, operation: Operation, status: str) -> bool:
    # the operator's new key has no URL of its own; a tenant's is /v1/api-keys/{key_id}
    return status == "201" and not path.startswith("/v1/tenants/{tenant_id}/api-keys")


def _retry_after(path: str, method: str, operation: Operation, status: str) -> bool:
    return status in ("429", "503") or (method == "post" and status == "409")


def _replayable(path: str, method: str, operation: Operation, status: str) -> bool:
    return method == "post" and status[0] in "234" and status not in ("401", "403", "408", "429")


def _challenge(path: str, method: str, operation: Operation, status: str) -> bool:
    return status == "401"


def _rate_limited(path: str, method: str, operation: Operation, status: str) -> bool:
    # every answer to a tenant request whose key was resolved (so never a 401)
    return is_tenant_operation(operation) and status != "401"


def headers_for(document: dict[str, Any]) -> tuple[ResponseHeader, ...]:
    integer = {"type": "integer", "minimum": 0}
    return (
        ResponseHeader("ETag", "The record's version as an entity-tag, such as `\"3\"`: send it "
                               "back in `If-Match` or `If-None-Match`",
                       {"type": "string"}, _etag(document)),
        ResponseHeader("Location", "The URL of the new resource", {"type": "string"}, _location),
        ResponseHeader("Retry-After", "Seconds to wait before retrying", integer, _retry_after),
        ResponseHeader("Idempotent-Replayed", "`true` when this answer is the replay of an "
                                              "earlier request's with the same Idempotency-Key",
                       {"type": "string", "enum": ["true"]}, _replayable),
        ResponseHeader("WWW-Authenticate", "The authentication scheme: `Bearer`",
                       {"type": "string"}, _challenge),
        ResponseHeader(POLICY, 'The tenant\'s rate limit: `"tenant";q=<burst>;w=<burst/rate '
                               'seconds>` (IETF RateLimit header fields)',
                       {"type": "string"}, _rate_limited),
        ResponseHeader(REMAINING, 'What is left of it now: `"tenant";r=<requests left>;'
                                  't=<seconds until the bucket is full>`',
                       {"type": "string"}, _rate_limited),
    )


def declare(document: dict[str, Any]) -> dict[str, Any]:
    """Add each header to every response of the document that carries it."""
    declared = headers_for(document)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                for header in declared:
                    if header.sent(path, method, operation, str(status)):
                        response.setdefault("headers", {})[header.name] = {
                            "description": header.description, "schema": header.schema}
    return document
