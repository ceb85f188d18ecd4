"""Liveness: answers while the process runs, without touching the database."""

from fastapi import APIRouter, Response

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness probe", response_model=dict[str, str])
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
