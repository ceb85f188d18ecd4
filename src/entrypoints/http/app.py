"""The FastAPI application factory: `create_app(settings)` is how the server and tests get an app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from entrypoints.container import Container, dispose
from entrypoints.http import problems
from entrypoints.http.idempotency import IdempotencyMiddleware
from entrypoints.http.idempotency_openapi import document_idempotency
from entrypoints.http.middleware import EdgeMiddleware
from entrypoints.http.observability import ObservabilityMiddleware
from entrypoints.http.routers import books, cities, docs, health, tenants, users
from entrypoints.purging import purging
from entrypoints.settings import Settings

VERSION = "0.1.0"


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """A new app; its engine is created when the app starts and disposed when it stops."""
    settings = settings or Settings()
    container = container or Container(settings=settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        container.init_resources()
        try:
            async with purging(container, settings.idempotency_purge_interval_seconds):
                yield
        finally:
            await dispose(container)

    app = FastAPI(title="tenant-catalog", version=VERSION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, redirect_slashes=False,
                  description="Books, cities and users of many tenants, each reached with its "
                              "own API key. Every error is application/problem+json.")
    app.state.settings, app.state.container = settings, container
    problems.install(app)
    app.add_middleware(IdempotencyMiddleware, container=container, settings=settings)
    app.add_middleware(EdgeMiddleware)  # outside IdempotencyMiddleware: it buffers the body
    app.add_middleware(ObservabilityMiddleware)  # added last: outermost
    for router in (docs.router, health.router, tenants.me, tenants.router, books.router, cities.biggest,
                   cities.router, users.by_name, users.router):
        app.router.routes.extend(router.routes)  # flat: one lookup per route, no wrappers
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, plus the Problem schema every error response refers to."""
    if app.openapi_schema is None:
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
        app.openapi_schema = _link_created_records(document_idempotency(schema))
    return app.openapi_schema


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
