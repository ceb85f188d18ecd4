"""The FastAPI floor: the two benchmarked requests as a plain FastAPI app on a raw asyncpg pool.

What FastAPI and uvicorn cost on their own, written the way FastAPI's tutorial writes an app:
query and body parameters declared and validated by FastAPI, a pydantic `response_model`, the
default JSON response, one asyncpg pool opened in the lifespan. No authentication, no tenant
scope, no middleware, no logging, no metrics: the tenant id is read from the bearer token's
first 32 hex digits (`ck_<tenant><key>_<secret>`) without checking anything, so it answers the
same requests as the service with the same bytes.

- `GET /v1/cities/biggest?limit=N` (1…100, default 20): the same SELECT as bench/baseline.py.
- `POST /v1/cities` `{"name", "population"}`: 201 with the city, `Location` and `ETag`;
  `INSERT … RETURNING` (autocommit), 409 on a duplicate name.
- `GET /healthz`: 200.

Run by the benchmark as `uvicorn bench.floor:app --workers N`; the pool is the baseline's (same
size, all opened at startup, no reset query: one round trip per request). Settings from the
environment: BENCH_DATABASE_URL, BENCH_POOL_SIZE (20), BENCH_APP_NAME (bench-floor).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import FastAPI, Header, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from bench.baseline import BIGGEST_SQL, INSERT_SQL, INT64_MAX, unverified_tenant
from domain.ids import new_id


class City(BaseModel):
    id: UUID
    name: str
    population: int
    created_at: datetime
    updated_at: datetime
    version: int


class NewCity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    population: int = Field(ge=0, le=INT64_MAX, strict=True)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset (as in bench/baseline.py): one round trip per request."""


pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool
    size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    dsn = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    pool = await asyncpg.create_pool(
        dsn, min_size=size, max_size=size, reset=_keep_session,
        server_settings={"application_name": os.environ.get("BENCH_APP_NAME", "bench-floor"),
                         "statement_timeout": "15000"})
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)


def tenant_of(authorization: str | None) -> UUID:
    scheme, _, token = (authorization or "").partition(" ")
    tenant_id = unverified_tenant(token.strip()) if scheme.lower() == "bearer" else None
    if tenant_id is None:
        raise HTTPException(401, "Unauthorized")
    return tenant_id


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/cities/biggest", response_model=list[City])
async def biggest(limit: Annotated[int, Query(ge=1, le=100)] = 20,
                  authorization: Annotated[str | None, Header()] = None) -> list[City]:
    assert pool is not None
    rows = await pool.fetch(BIGGEST_SQL, tenant_of(authorization), limit)
    return [City(**dict(row)) for row in rows]


@app.post("/v1/cities", response_model=City, status_code=201)
async def create(city: NewCity, response: Response,
                 authorization: Annotated[str | None, Header()] = None) -> City:
    assert pool is not None
    now = datetime.now(UTC)
    try:
        row = await pool.fetchrow(INSERT_SQL, tenant_of(authorization), new_id(), city.name,
                                  city.population, now, now, 1)
    except asyncpg.UniqueViolationError:
        raise HTTPException(409, "Conflict") from None
    response.headers["location"] = f"/v1/cities/{row['id']}"
    response.headers["etag"] = f'"{row["version"]}"'
    return City(**dict(row))
