"""Every error as application/problem+json, mapped from domain errors in one place."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from domain.errors import (AlreadyExists, Conflict, DomainError, InsufficientScope,
                           InvalidCredentials, InvalidInput, NotFound, Unavailable,
                           VersionMismatch)
from entrypoints.http.json import ProblemResponse
from entrypoints.http.observability import DB_ERRORS

log = logging.getLogger("catalog.http")

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
          412: "Precondition Failed",
          413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
          429: "Too Many Requests",
          500: "Internal Server Error", 503: "Service Unavailable"}
RETRY_AFTER_SECONDS = "1"


class FieldProblem(BaseModel):
    field: str
    location: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    request_id: str | None = None


INSUFFICIENT_SCOPE = "/problems/insufficient-scope"


def problem(status: int, detail: str, *, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None, request_id: str | None = None,
            type_: str = "about:blank") -> ProblemResponse:
    body: dict[str, Any] = {"type": type_, "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    if request_id is not None:
        body["request_id"] = request_id
    return ProblemResponse(body, status_code=status, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all problem+json."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {status: {"description": TITLES[status],
                     "content": {"application/problem+json": {"schema": schema}}}
            for status in statuses}


def _field_errors(errors: Any) -> list[dict[str, str]]:
    out = []
    for error in errors:
        if error.get("type") == "json_invalid":
            out.append({"field": "", "location": "body", "message": "the body is not valid JSON"})
            continue
        loc = [str(part) for part in error.get("loc", ())]
        location = loc[0] if loc else "body"
        out.append({"field": ".".join(loc[1:]) or location, "location": location,
                    "message": str(error.get("msg", "is invalid"))})
    return out


def domain_problem(error: DomainError) -> ProblemResponse:
    """The answer to a domain error (nothing else: the handler counts what it answers)."""
    match error:
        case NotFound():
            return problem(404, str(error))
        case AlreadyExists():
            return problem(409, str(error))
        case VersionMismatch():
            return problem(412, f"the {error.kind} has changed since: it is at version "
                                f"{error.actual}")
        case InvalidInput():
            return problem(422, "the request has invalid fields",
                           errors=[{"field": e.field, "location": "body", "message": e.message}
                                   for e in error.errors])
        case InsufficientScope():
            return problem(403, "this API key is read-only: it may only GET and HEAD",
                           type_=INSUFFICIENT_SCOPE)
        case Conflict():
            return problem(409, str(error))
        case InvalidCredentials():
            return problem(401, "a valid API key is required",
                           headers={"WWW-Authenticate": 'Bearer realm="catalog"'})
        case Unavailable():
            return problem(503, str(error), headers={"Retry-After": RETRY_AFTER_SECONDS})
    return problem(400, str(error))


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    allowed: set[str] = set()
    scope = {**request.scope, "method": "OPTIONS"}
    for route in app.router.routes:  # flat: create_app adds every route at the top level
        if route.matches(scope)[0] != Match.NONE:
            allowed |= set(getattr(route, "methods", None) or ())
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into problem+json."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> ProblemResponse:
        if isinstance(error, Unavailable):
            DB_ERRORS.labels("unavailable").inc()
        return domain_problem(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> ProblemResponse:
        return problem(422, "the request has invalid fields", errors=_field_errors(error.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> ProblemResponse:
        detail = error.detail if isinstance(error.detail, str) else TITLES.get(error.status_code, "")
        headers = dict(getattr(error, "headers", None) or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return problem(error.status_code, detail, headers=headers or None)

    @app.exception_handler(Exception)
    async def _crash(request: Request, error: Exception) -> ProblemResponse:
        request_id = request.scope.get("state", {}).get("request_id")
        log.exception("unhandled error", extra={"request_id": request_id})
        return problem(500, "an unexpected error occurred; quote the request id when reporting it",
                       request_id=request_id,
                       headers={"X-Request-ID": request_id} if request_id else None)
