"""The FastAPI application factory: `create_app(settings)` is how the server and tests get an app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from domain.model import CITIES, RESOURCES, USERS, Record, Resource
from entrypoints.container import Container, dispose
from entrypoints.http import problems, response_headers
from entrypoints.http.idempotency import IdempotencyMiddleware
from entrypoints.http.idempotency_openapi import document_idempotency
from entrypoints.http.limits import TenantLimitsMiddleware
from entrypoints.http.limits_openapi import document_limits
from entrypoints.http.middleware import EdgeMiddleware
from entrypoints.http.observability import ObservabilityMiddleware
from entrypoints.http.routing import Routes
from entrypoints.http.routers import api_keys, cities, docs, health, records, tenants, users
from entrypoints.key_events import following_key_events
from entrypoints.purging import purging
from entrypoints.settings import Settings

VERSION = "0.1.0"
# Routes some resources have besides create, list, get, update, replace and delete
EXTRA_ROUTES: dict[Resource[Record], tuple[APIRouter, ...]] = {
    CITIES: (cities.biggest,), USERS: (users.by_name,)}


class CatalogApp(FastAPI):
    """The service's app: its OpenAPI document is completed by `_openapi`."""

    def openapi(self) -> dict[str, Any]:
        return _openapi(self)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """A new app; its engine is created when the app starts and disposed when it stops."""
    settings = settings or Settings()
    container = container or Container(settings=settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        container.init_resources()
        await container.rate_limiter().warm()
        try:
            async with purging(container, settings.idempotency_purge_interval_seconds), \
                    following_key_events(container, settings.key_events_poll_seconds):
                yield
        finally:
            await dispose(container)

    app = CatalogApp(title="tenant-catalog", version=VERSION, lifespan=lifespan,
                  # the service's own metrics and logs (observability.py); FastAPI's native
                  # OpenTelemetry would otherwise ask for a provider on every request
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  docs_url=None, redoc_url=None, redirect_slashes=False,
                  description="Books, cities and users of many tenants, each reached with its "
                              "own API key. Every error is application/problem+json. Text "
                              "fields (names, authors, full names) hold no control characters "
                              "(U+0000-U+001F, U+007F-U+009F): such a value is a 422, in a "
                              "body, a query or a path. Integer fields accept whole numbers "
                              "written with a fraction part (594.0). Lists answer {items, "
                              "next_cursor}; an empty or absent cursor is the first page. "
                              "GET /v1/cities/biggest answers a bare array.")
    app.state.settings, app.state.container = settings, container
    problems.install(app)
    routes = Routes(app.router.routes)
    app.add_middleware(IdempotencyMiddleware, container=container, settings=settings,
                       routes=routes)
    if settings.tenant_limits:  # before any claim
        app.add_middleware(TenantLimitsMiddleware, container=container, routes=routes)
    app.add_middleware(EdgeMiddleware)  # outside IdempotencyMiddleware: it buffers the body
    app.add_middleware(ObservabilityMiddleware)  # added last: outermost
    # The tenants' resources first: the router tries routes in order, and these are the ones
    # nearly every request is for (their paths share no prefix with the probes, the docs
    # and the operator's routes, so the order answers no request differently).
    routers: list[APIRouter] = []
    for resource in RESOURCES:  # a resource's own extra routes, then those every one has
        routers.extend((*EXTRA_ROUTES.get(resource, ()), records.record_router(resource)))
    routers += [tenants.me, api_keys.router, tenants.router, health.router, docs.router]
    for router in routers:
        app.router.routes.extend(router.routes)  # flat: one lookup per route, no wrappers
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, plus the Problem schema every error response refers to."""
    if app.openapi_schema is None:
        name_operations(app.routes)
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problems.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
                          .pop("$defs", {}))
        components["Problem"] = problems.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        components["Problem"].pop("$defs", None)
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = response_headers.declare(
            document_limits(_link_created_records(document_idempotency(schema))))
    return app.openapi_schema


def name_operations(routes: list[BaseRoute]) -> None:
    """Give every operation a stable, readable operationId: `<resource>.<route name>`, such as
    `books.create` or `users.get_by_name` (`service.` for the probes)."""
    seen: dict[str, APIRoute] = {}
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        if route.operation_id is None:
            segments = route.path_format.strip("/").split("/")
            resource = segments[1] if segments[0] == "v1" and len(segments) > 1 else "service"
            route.operation_id = f"{resource}.{route.name}"
        other = seen.setdefault(route.operation_id, route)
        if other is not route:
            raise RuntimeError(f"operationId {route.operation_id} names both {other.path_format} "
                               f"and {route.path_format}: give one of them another route name")


def _link_created_records(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI links from each create (201) to the operations on the record it made."""
    paths = schema.get("paths", {})
    for path, operations in paths.items():
        created = operations.get("post", {}).get("responses", {}).get("201")
        one = paths.get(f"{path}/{{record_id}}")
        if created is None or one is None:
            continue
        pointer = f"{path}/{{record_id}}".replace("~", "~0").replace("/", "~1")
        created["links"] = {
            f"{method.capitalize()}Created": {
                "operationRef": f"#/paths/{pointer}/{method}",
                "parameters": {"record_id": "$response.body#/id"}}
            for method in ("get", "patch", "put", "delete") if method in one}
    return schema
