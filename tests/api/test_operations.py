"""Probes, metrics and request logs."""

import io
import json
import logging
from pathlib import Path

import httpx
import pytest

from entrypoints import lifecycle
from entrypoints.http.app import create_app
from entrypoints.logs import JsonFormatter, TextFormatter
from tests.api.client import Api, Tenant, assert_problem, settings_for


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.request("GET", "/healthz")).json() == {"status": "ok"}
    assert (await api.request("GET", "/readyz")).json() == {"status": "ready"}


async def test_readyz_is_503_while_draining(api: Api) -> None:
    lifecycle.draining.set()
    try:
        response = await api.request("GET", "/readyz")
    finally:
        lifecycle.draining.clear()
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert (await api.request("GET", "/healthz")).status_code == 200


async def test_readyz_is_503_before_migrations(tmp_path: Path) -> None:
    app = create_app(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            response = await client.get("/readyz")
            assert "catalog db upgrade" in assert_problem(response, 503)["detail"]
            assert (await client.get("/healthz")).status_code == 200


async def test_metrics_by_route_template_without_tenants(api: Api, tenant: Tenant) -> None:
    made = await api.request("POST", "/v1/books", tenant,
                             json={"name": "n", "author": "a", "release_year": 1})
    await api.request("GET", f"/v1/books/{made.json()['id']}", tenant)
    await api.request("GET", "/v1/no/such/route", tenant)
    text = (await api.request("GET", "/metrics")).text
    assert 'route="/v1/books/{record_id}",status_class="2xx"' in text
    assert 'route="unmatched",status_class="4xx"' in text
    for name in ("catalog_http_request_duration_seconds_bucket",
                 "catalog_http_requests_in_flight", "catalog_db_pool_size",
                 "catalog_db_pool_checked_out", "catalog_db_pool_overflow"):
        assert name in text
    assert tenant.id not in text and made.json()["id"] not in text


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
async def test_one_log_line_per_request(api: Api, tenant: Tenant,
                                        formatter: logging.Formatter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("catalog.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        await api.request("GET", "/v1/me", tenant, headers={"X-Request-ID": "log-me-1"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 1
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(lines[0])
        assert entry["request_id"] == "log-me-1" and entry["tenant_id"] == tenant.id
        assert entry["route"] == "/v1/me" and entry["status"] == 200
        assert entry["duration_ms"] >= 0 and entry["method"] == "GET"
    else:
        assert "request_id=log-me-1" in lines[0] and "status=200" in lines[0]


def _counter(text: str, method: str, route: str, status_class: str) -> float:
    prefix = (f'catalog_http_requests_total{{method="{method}",route="{route}",'
              f'status_class="{status_class}"}} ')
    return sum(float(line.removeprefix(prefix)) for line in text.splitlines()
               if line.startswith(prefix))


async def test_replays_and_reused_keys_are_logged_and_counted_under_their_route(
        api: Api, tenant: Tenant) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("catalog.access")
    logger.setLevel(logging.INFO)
    key = {"Idempotency-Key": f"observe-{tenant.id}"}
    before = (await api.request("GET", "/metrics")).text
    logger.addHandler(handler)
    try:
        for year in (1, 1, 2):  # runs, replays, reused with another body (422)
            await api.request("POST", "/v1/books", tenant, headers=key,
                              json={"name": "n", "author": "a", "release_year": year})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    after = (await api.request("GET", "/metrics")).text
    entries = [json.loads(line) for line in stream.getvalue().strip().splitlines()]
    assert [(e["route"], e["status"], e["tenant_id"]) for e in entries] == [
        ("/v1/books", 201, tenant.id), ("/v1/books", 201, tenant.id),
        ("/v1/books", 422, tenant.id)]
    assert _counter(after, "POST", "/v1/books", "2xx") - \
        _counter(before, "POST", "/v1/books", "2xx") == 2
    assert _counter(after, "POST", "/v1/books", "4xx") - \
        _counter(before, "POST", "/v1/books", "4xx") == 1
