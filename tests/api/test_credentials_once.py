"""A request's API key is authenticated once, however many layers ask who is calling: the
tenant limits, the idempotency claim and the route all share the one answer (or refusal)."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from dependency_injector import providers

from domain.model import Principal
from entrypoints.http.app import create_app
from tests.api.client import Api, assert_problem, settings_for


class Counting:
    """The real Authenticate, counting its calls."""

    def __init__(self, real: object) -> None:
        self.real, self.calls = real, 0

    async def __call__(self, token: str) -> Principal:
        self.calls += 1
        return await self.real(token)  # type: ignore[operator, no-any-return]


@pytest_asyncio.fixture(params=[True, False], ids=["limits", "no-limits"])
async def counted(request: pytest.FixtureRequest,
                  sqlite_url: str) -> AsyncIterator[tuple[Api, Counting]]:
    app = create_app(settings_for(sqlite_url, tenant_limits=request.param))
    async with app.router.lifespan_context(app):
        counting = Counting(app.state.container.authenticate())
        app.state.container.authenticate.override(providers.Object(counting))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Api(client, app, "sqlite"), counting
        app.state.container.authenticate.reset_override()


async def test_a_write_with_an_idempotency_key_authenticates_once(
        counted: tuple[Api, Counting]) -> None:
    api, counting = counted
    tenant = await api.new_tenant()
    before = counting.calls
    made = await api.request("POST", "/v1/books", tenant, headers={"Idempotency-Key": "k-1"},
                             json={"name": "Dune", "author": "Frank Herbert",
                                   "release_year": 1965})
    assert made.status_code == 201, made.text
    assert counting.calls == before + 1
    read = await api.request("GET", f"/v1/books/{made.json()['id']}", tenant)
    assert read.status_code == 200 and counting.calls == before + 2


async def test_a_refused_key_is_asked_about_once(counted: tuple[Api, Counting]) -> None:
    api, counting = counted
    before = counting.calls
    refused = await api.request("POST", "/v1/books", headers={
        "Authorization": "Bearer ck_not_a_key", "Idempotency-Key": "k-2"},
        json={"name": "x", "author": "y", "release_year": 1})
    assert_problem(refused, 401)
    assert counting.calls == before + 1


async def test_operator_routes_never_ask_for_a_tenant(counted: tuple[Api, Counting]) -> None:
    api, counting = counted
    before = counting.calls
    made = await api.client.post("/v1/tenants", json={"slug": "once-operator"},
                                 headers={**api.admin, "Idempotency-Key": "k-3"})
    assert made.status_code == 201, made.text
    again = await api.client.post("/v1/tenants", json={"slug": "once-operator"},
                                  headers={**api.admin, "Idempotency-Key": "k-3"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert counting.calls == before
