"""Sharing the service fairly, through the real app on every backend: the rate limit (with a
clock the test moves, so nothing depends on timing), the tenant's own limit set by the
operator, the headers, idempotency, and the per-tenant concurrency cap."""

import asyncio
import math
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers

from adapters.ratelimit.local import InMemoryRateLimiter
from domain.model import RateLimit
from tests.api.client import Api, Tenant, assert_problem


class Clock:
    def __init__(self) -> None:
        self.value = 50_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock(api: Api) -> Iterator[Clock]:
    """The app's limiter on a clock of the test's, with a default of 2/s and bursts of 3."""
    clock, container = Clock(), api.app.state.container
    with container.rate_limiter.override(providers.Object(InMemoryRateLimiter(clock=clock))), \
            container.default_rate_limit.override(providers.Object(RateLimit(2.0, 3))):
        yield clock


def parse(header: str) -> dict[str, int]:
    match = re.fullmatch(r'"tenant";(\w)=(\d+);(\w)=(\d+)', header)
    assert match, header
    return {match[1]: int(match[2]), match[3]: int(match[4])}


async def me(api: Api, tenant: Tenant) -> Any:
    return await api.request("GET", "/v1/me", tenant)


async def test_a_burst_passes_then_429_with_retry_after(api: Api, tenant: Tenant,
                                                        clock: Clock) -> None:
    for left in (2, 1, 0):
        response = await me(api, tenant)
        assert response.status_code == 200
        assert parse(response.headers["ratelimit-policy"]) == {"q": 3, "w": 2}
        assert parse(response.headers["ratelimit"])["r"] == left
    rejected = await me(api, tenant)
    assert_problem(rejected, 429)
    assert rejected.headers["retry-after"] == "1"  # 0.5 s to the next token, in whole seconds
    assert parse(rejected.headers["ratelimit"]) == {"r": 0, "t": 2}  # 1.5 s until full
    clock.value += 0.49
    assert (await me(api, tenant)).status_code == 429
    clock.value += 0.01  # the refill, at 2 per second
    refilled = await me(api, tenant)
    assert refilled.status_code == 200 and parse(refilled.headers["ratelimit"])["r"] == 0
    clock.value += 10  # full again: the burst, never more
    assert [(await me(api, tenant)).status_code for _ in range(4)] == [200, 200, 200, 429]


async def test_errors_and_every_route_count_and_carry_the_headers(api: Api, tenant: Tenant,
                                                                  clock: Clock) -> None:
    missing = await api.request("GET", f"/v1/books/{uuid.uuid4()}", tenant)
    assert missing.status_code == 404 and parse(missing.headers["ratelimit"])["r"] == 2
    bad = await api.request("POST", "/v1/books", tenant, json={})
    assert bad.status_code == 422 and parse(bad.headers["ratelimit"])["r"] == 1


async def test_another_tenant_is_unaffected(api: Api, tenant: Tenant, clock: Clock) -> None:
    other = await api.new_tenant("other")
    while (await me(api, tenant)).status_code != 429:
        pass
    assert [(await me(api, other)).status_code for _ in range(3)] == [200, 200, 200]


async def test_not_limited_health_metrics_and_the_operator(api: Api, tenant: Tenant,
                                                           clock: Clock) -> None:
    while (await me(api, tenant)).status_code != 429:
        pass
    for _ in range(5):
        for path in ("/healthz", "/readyz", "/metrics"):
            response = await api.request("GET", path, tenant)
            assert response.status_code == 200 and "ratelimit" not in response.headers
        response = await api.request("GET", f"/v1/tenants/{tenant.id}", headers=api.admin)
        assert response.status_code == 200 and "ratelimit" not in response.headers
    unauthenticated = await api.request("GET", "/v1/me")
    assert unauthenticated.status_code == 401


async def test_the_tenants_own_limit_replaces_the_default_and_null_restores_it(
        api: Api, tenant: Tenant, clock: Clock) -> None:
    patched = await api.request("PATCH", f"/v1/tenants/{tenant.id}", headers=api.admin,
                                json={"rate_limit": {"rate": 0.5, "burst": 5}})
    assert patched.status_code == 200
    assert patched.json()["rate_limit"] == {"rate": 0.5, "burst": 5}
    assert (await api.request("GET", f"/v1/tenants/{tenant.id}", headers=api.admin)
            ).json()["rate_limit"] == {"rate": 0.5, "burst": 5}
    statuses = [(await me(api, tenant)) for _ in range(6)]
    assert [r.status_code for r in statuses] == [200] * 5 + [429]
    assert parse(statuses[0].headers["ratelimit-policy"]) == {"q": 5, "w": 10}
    assert statuses[-1].headers["retry-after"] == "2"  # a token every 2 s
    clock.value += 2
    assert (await me(api, tenant)).json()["rate_limit"] == {"rate": 0.5, "burst": 5}

    restored = await api.request("PATCH", f"/v1/tenants/{tenant.id}", headers=api.admin,
                                 json={"rate_limit": None})
    assert restored.status_code == 200 and restored.json()["rate_limit"] is None
    clock.value += 100
    answers = [(await me(api, tenant)) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]  # the default: burst 3
    assert parse(answers[0].headers["ratelimit-policy"]) == {"q": 3, "w": 2}


async def test_patch_renames_and_validates(api: Api, tenant: Tenant) -> None:
    url = f"/v1/tenants/{tenant.id}"
    renamed = await api.request("PATCH", url, headers=api.admin, json={"name": "Renamed"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed" and renamed.json()["rate_limit"] is None
    for body in ({"rate_limit": {"rate": 0, "burst": 1}}, {"rate_limit": {"rate": 1}},
                 {"rate_limit": {"rate": 1, "burst": 100_001}}, {"rate_limit": {"rate": 1e9,
                                                                               "burst": 1}},
                 {"rate_limit": {"rate": "1", "burst": 1}}, {"name": ""}, {"slug": "x"},
                 {"rate_limit": 5}):
        assert_problem(await api.request("PATCH", url, headers=api.admin, json=body), 422)
    assert (await api.request("GET", url, headers=api.admin)).json()["name"] == "Renamed"
    assert_problem(await api.request("PATCH", f"/v1/tenants/{uuid.uuid4()}", headers=api.admin,
                                     json={"name": "x"}), 404)
    assert_problem(await api.request("PATCH", url, tenant, json={"name": "x"}), 401)


async def test_a_429_with_an_idempotency_key_stores_nothing(api: Api, tenant: Tenant,
                                                            clock: Clock) -> None:
    while (await me(api, tenant)).status_code != 429:
        pass
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Dune", "author": "Frank Herbert", "release_year": 1965}
    rejected = await api.request("POST", "/v1/books", tenant, json=body, headers=key)
    assert_problem(rejected, 429)
    clock.value += int(rejected.headers["retry-after"])
    retried = await api.request("POST", "/v1/books", tenant, json=body, headers=key)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    clock.value += 10
    replayed = await api.request("POST", "/v1/books", tenant, json=body, headers=key)
    assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == retried.json()
    listed = await api.request("GET", "/v1/books", tenant)
    assert [b["id"] for b in listed.json()["items"]] == [retried.json()["id"]]


class SlowForOneTenant:
    """BiggestCities that, for one tenant, holds a pooled connection until released."""

    def __init__(self, real: Any, engine: Any, slow_tenant: str) -> None:
        self.real, self.engine, self.slow_tenant = real, engine, slow_tenant
        self.release, self.holding = asyncio.Event(), 0

    async def __call__(self, tenant_id: Any, limit: int) -> Any:
        if str(tenant_id) == self.slow_tenant:
            async with self.engine.connect():
                self.holding += 1
                await self.release.wait()
        return await self.real(tenant_id, limit)


async def test_the_concurrency_cap_queues_without_a_connection_then_429(
        api: Api, tenant: Tenant) -> None:
    container = api.app.state.container
    other = await api.new_tenant("calm")
    engine = container.engine()
    slow = SlowForOneTenant(container.biggest_cities(), engine, tenant.id)
    cap = type(container.tenant_concurrency())(limit=2, queue_timeout=3)
    path = "/v1/cities/biggest"
    assert (await me(api, tenant)).status_code == 200  # its key resolved and cached
    with container.biggest_cities.override(providers.Object(slow)), \
            container.tenant_concurrency.override(providers.Object(cap)):
        checked_out = engine.pool.checkedout()
        first = [asyncio.create_task(api.request("GET", path, tenant)) for _ in range(6)]
        try:
            for _ in range(2000):  # the two admitted hold their connections (bounded wait)
                if slow.holding == 2:
                    break
                await asyncio.sleep(0.005)
            assert slow.holding == 2
            calm = await api.request("GET", path, other)  # served while the six are in flight
            assert calm.status_code == 200 and not any(task.done() for task in first[:2])
            assert slow.holding == 2  # the queued four never reached the route...
            # ...nor hold a connection while they wait (for up to 3 s): other connections
            # are brief ones of the background work (the key event poll, a key's last use)
            for _ in range(400):
                if engine.pool.checkedout() - checked_out <= 2:
                    break
                await asyncio.sleep(0.005)
            assert engine.pool.checkedout() - checked_out <= 2
            extra = await asyncio.wait_for(asyncio.gather(*first[2:]), 60)
        finally:
            slow.release.set()
        admitted = await asyncio.wait_for(asyncio.gather(*first[:2]), 60)
    assert [r.status_code for r in admitted] == [200, 200]
    for response in extra:
        assert_problem(response, 429)
        assert response.headers["retry-after"] == "1" and "ratelimit" in response.headers
    assert math.isclose(slow.holding, 2)
    metrics = (await api.request("GET", "/metrics")).text
    assert 'catalog_tenant_requests_rejected_total{reason="concurrency"}' in metrics


async def test_openapi_documents_the_429_and_headers_on_every_tenant_operation(api: Api) -> None:
    document = (await api.request("GET", "/openapi.json")).json()
    tenant_operations = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation["responses"]
            if path.startswith("/v1/tenants"):
                assert "429" not in responses, f"{method} {path}"
                continue
            if not path.startswith("/v1/"):
                continue
            tenant_operations += 1
            assert "Retry-After" in responses["429"]["headers"], f"{method} {path}"
            assert list(responses["429"]["content"]) == ["application/problem+json"]
            for status, response in responses.items():
                if status != "401":
                    assert {"RateLimit-Policy", "RateLimit"} <= set(response["headers"]), \
                        f"{method} {path} {status}"
    assert tenant_operations >= 15
    patch = document["paths"]["/v1/tenants/{tenant_id}"]["patch"]
    assert patch["responses"]["200"]["content"]["application/json"]["schema"]


async def test_rejections_are_counted_by_reason_never_by_tenant(api: Api, tenant: Tenant,
                                                                clock: Clock) -> None:
    def rejected(text: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith('catalog_tenant_requests_rejected_total{reason="rate"}'))

    before = rejected((await api.request("GET", "/metrics")).text)
    while (await me(api, tenant)).status_code != 429:
        pass
    await me(api, tenant)
    text = (await api.request("GET", "/metrics")).text
    assert rejected(text) - before == 2
    assert tenant.id not in text and tenant.slug not in text
    assert "catalog_ratelimit_redis_fallbacks_total" in text
