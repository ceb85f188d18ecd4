"""The rate limit in the OpenAPI document: on every tenant operation, its 429 and headers."""

from typing import Any

from entrypoints.http.limits import POLICY, REMAINING, is_tenant_path
from entrypoints.http.problems import problem_responses

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
HEADERS = {
    POLICY: {"description": 'The tenant\'s limit: `"tenant";q=<burst>;w=<burst/rate seconds>` '
                            "(IETF RateLimit header fields)",
             "schema": {"type": "string"}},
    REMAINING: {"description": 'What is left of it now: `"tenant";r=<requests left>;t=<seconds '
                               'until the bucket is full>`',
                "schema": {"type": "string"}},
}
RETRY_AFTER = {"description": "Whole seconds to wait before retrying (at least 1)",
               "schema": {"type": "integer", "minimum": 1}}


def document_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the 429 (with Retry-After) and both RateLimit headers to each tenant operation."""
    for path, path_item in schema.get("paths", {}).items():
        if not is_tenant_path(path):
            continue
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            response = responses.setdefault("429", problem_responses(429)[429])
            response["description"] = ("Too Many Requests: past the tenant's rate limit, or too "
                                       "many of its requests in flight on this instance")
            response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
            for status, answer in responses.items():
                if str(status) not in ("401",):
                    answer.setdefault("headers", {}).update(HEADERS)
    return schema
