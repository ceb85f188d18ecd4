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
from entrypoints.http.limits import TenantLimitsMiddleware
from entrypoints.http.limits_openapi import document_limits
from entrypoints.http.middleware import EdgeMiddleware
from entrypoints.http.observability import ObservabilityMiddleware
from entrypoints.http.routers import books, cities, health, tenants, users
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
        await container.rate_limiter().warm()
        try:
            async with purging(container, settings.idempotency_purge_interval_seconds):
                yield
        finally:
            await dispose(container)

    app = FastAPI(title="tenant-catalog", version=VERSION, lifespan=lifespan,
                  description="Books, cities and users of many tenants, each reached with its "
                              "own API key. Every error is application/problem+json.")
    app.state.settings, app.state.container = settings, container
    problems.install(app)
    app.add_middleware(IdempotencyMiddleware, container=container, settings=settings)
    if settings.tenant_limits:
        app.add_middleware(TenantLimitsMiddleware, container=container)  # before any claim
    app.add_middleware(EdgeMiddleware)  # outside IdempotencyMiddleware: it buffers the body
    app.add_middleware(ObservabilityMiddleware)  # added last: outermost
    for router in (health.router, tenants.me, tenants.router, books.router, cities.biggest,
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
        app.openapi_schema = document_limits(document_idempotency(schema))
    return app.openapi_schema
