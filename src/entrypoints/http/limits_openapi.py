"""The rate limit in the OpenAPI document: on every tenant operation, its 429. Its headers
(Retry-After, RateLimit-Policy, RateLimit) are declared with all the others, in
response_headers."""

from typing import Any

from entrypoints.http.response_headers import is_tenant_operation
from entrypoints.http.problems import problem_responses

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def document_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the 429 to each tenant operation (before response_headers.declare runs)."""
    for path, path_item in schema.get("paths", {}).items():
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None or not is_tenant_operation(operation):
                continue
            responses = operation.setdefault("responses", {})
            response = responses.setdefault("429", problem_responses(429)[429])
            response["description"] = ("Too Many Requests: past the tenant's rate limit, or too "
                                       "many of its requests in flight on this instance")
    return schema
