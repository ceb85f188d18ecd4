"""The Idempotency-Key header in the OpenAPI document: on every POST, with its answers."""

from typing import Any

from entrypoints.http.idempotency import HEADER
from entrypoints.http.problems import problem_responses

PARAMETER = {
    "name": HEADER, "in": "header", "required": False,
    "description": "Makes the POST safe to retry: a retry with the same key and request within "
                   "24 h replays the first answer (with `Idempotent-Replayed: true`) and creates "
                   "nothing. Keys belong to the caller's tenant (or to the operator); use a "
                   "random one (a UUID) per operation.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
ALSO = {"409": "a request with this Idempotency-Key is still running",
        "422": "the Idempotency-Key is malformed, or was first used with another request"}


def document_idempotency(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the header parameter and the 409 and 422 answers to each POST (the replay header is
    declared with the others, in response_headers)."""
    for path_item in schema.get("paths", {}).values():
        operation = path_item.get("post")
        if operation is None:
            continue
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("name") == HEADER for p in parameters):
            parameters.append(PARAMETER)
        responses = operation.setdefault("responses", {})
        for status, reason in ALSO.items():
            response = responses.setdefault(status, problem_responses(int(status))[int(status)])
            response["description"] = f"{response['description']} (also: {reason})"
    return schema
