"""Probes and metrics: /healthz (the process runs), /readyz (it can serve), /metrics."""

import asyncio
import hmac
import logging

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from adapters.sqlalchemy.readiness import SchemaReadiness
from entrypoints import lifecycle
from entrypoints.http.dependencies import AppContainer, AppSettings, provided
from entrypoints.http.json import JsonResponse
from entrypoints.http.auth import bearer_token
from entrypoints.http.observability import DB_ERRORS, render_metrics
from entrypoints.http.problems import problem, problem_responses
from entrypoints.http.schemas import Status

router = APIRouter(tags=["operations"])
log = logging.getLogger("catalog.readiness")
Readiness = Annotated[SchemaReadiness, Depends(provided(lambda c: c.readiness))]


@router.get("/healthz", name="healthz", summary="Liveness: answers while the process runs",
            response_model=Status)
async def healthz() -> Response:
    return JsonResponse({"status": "ok"})


@router.get("/readyz", name="readyz",
            summary="Readiness: the database answers and the schema is at head",
            response_model=Status, responses=problem_responses(503))
async def readyz(settings: AppSettings, readiness: Readiness) -> Response:
    if lifecycle.draining.is_set():
        return problem(503, "shutting down", headers={"Retry-After": "1"})
    try:
        reason = await asyncio.wait_for(readiness(), settings.readiness_timeout)
    except Exception as error:  # noqa: BLE001 - any failure to check means not ready
        DB_ERRORS.labels("readiness").inc()
        log.warning("not ready: %s", error.__class__.__name__)
        reason = "the database does not answer"
    if reason is not None:
        return problem(503, reason, headers={"Retry-After": "1"})
    return JsonResponse({"status": "ready"})


@router.get("/metrics", name="metrics", summary="Prometheus metrics", response_class=Response,
            description="With CATALOG_METRICS_TOKEN set, only for `Authorization: Bearer "
                        "<that token>`.",
            responses={200: {"content": {"text/plain": {}}}, **problem_responses(401)})
async def metrics(request: Request, settings: AppSettings, container: AppContainer) -> Response:
    token = settings.metrics_token
    if token is not None:
        presented = bearer_token(request.headers.get("authorization")) or ""
        if not hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
            return problem(401, "the metrics token is required",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    pool = container.engine().pool if container.engine.initialized else None
    body, content_type = render_metrics(pool)
    return Response(body, media_type=content_type)
