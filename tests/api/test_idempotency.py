"""Idempotency-Key on POST, through the whole app, on SQLite, PostgreSQL and PgBouncer."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sqlalchemy.tables import idempotency_keys
from domain.idempotency import OPERATOR_SCOPE
from entrypoints.http.app import create_app
from tests.api.client import Api, Tenant, assert_problem, unique_slug
from tests.conftest import owner_url_of

BOOK = {"name": "Dune", "author": "Frank Herbert", "release_year": 1965}
BRIEF_TTL = 0.5


def keyed(key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key, **(extra or {})}


class Table:
    """The raw idempotency_keys table, read as the schema's owner (past row-level security)."""

    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url, poolclass=NullPool)

    async def rows(self, scope: str | UUID) -> list[Any]:
        async with self.engine.connect() as connection:
            result = await connection.execute(select(idempotency_keys).where(
                idempotency_keys.c.tenant_id == UUID(str(scope))))
            return list(result.all())

    async def count(self, scope: str | UUID) -> int:
        async with self.engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(idempotency_keys)
                                               .where(idempotency_keys.c.tenant_id
                                                      == UUID(str(scope)))))


@pytest_asyncio.fixture
async def table(api: Api, request: pytest.FixtureRequest) -> AsyncIterator[Table]:
    url = api.app.state.settings.url
    if api.dialect != "sqlite":
        url = owner_url_of(request.getfixturevalue("postgres_server"),
                           request.getfixturevalue("pg_url"))
    raw = Table(url)
    yield raw
    await raw.engine.dispose()


@pytest_asyncio.fixture
async def brief(api: Api) -> AsyncIterator[Api]:
    """Another app on the same database, whose keys expire after BRIEF_TTL seconds."""
    app = create_app(api.app.state.settings.model_copy(
        update={"idempotency_ttl_seconds": BRIEF_TTL}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://catalog.test") as client:
            yield Api(client, app, api.dialect)


async def books_of(api: Api, tenant: Tenant) -> list[dict[str, Any]]:
    response = await api.request("GET", "/v1/books", tenant, params={"limit": 100})
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_a_retry_replays_the_first_answer_and_creates_nothing(api: Api,
                                                                    tenant: Tenant) -> None:
    key = str(uuid4())
    first = await api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    again = await api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    for header in ("content-type", "location", "etag"):
        assert again.headers[header] == first.headers[header]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert [book["id"] for book in await books_of(api, tenant)] == [first.json()["id"]]


async def test_a_replayed_tenant_creation_gives_the_same_working_key(api: Api) -> None:
    key, body = str(uuid4()), {"slug": unique_slug("idem"), "name": "Idem"}
    first = await api.request("POST", "/v1/tenants", json=body, headers=keyed(key, api.admin))
    again = await api.request("POST", "/v1/tenants", json=body, headers=keyed(key, api.admin))
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    me = await api.request("GET", "/v1/me", headers={
        "Authorization": f"Bearer {again.json()['api_key']['key']}"})
    assert me.status_code == 200 and me.json()["id"] == first.json()["tenant"]["id"]


async def test_answers_other_than_errors_of_the_server_are_replayed(api: Api,
                                                                    tenant: Tenant) -> None:
    city = {"name": "Lyon", "population": 522250}
    lyon = (await api.request("POST", "/v1/cities", tenant, json=city)).json()
    key = str(uuid4())
    taken = await api.request("POST", "/v1/cities", tenant, json=city, headers=keyed(key))
    assert_problem(taken, 409)
    await api.request("DELETE", f"/v1/cities/{lyon['id']}", tenant)  # the name is free again
    again = await api.request("POST", "/v1/cities", tenant, json=city, headers=keyed(key))
    assert again.status_code == 409 and again.headers["idempotent-replayed"] == "true"
    assert again.content == taken.content


async def test_another_request_under_the_same_key_is_422(api: Api, tenant: Tenant) -> None:
    key = str(uuid4())
    first = await api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    assert first.status_code == 201
    for method_path, body in ((("POST", "/v1/books"), {**BOOK, "release_year": 1966}),
                              (("POST", "/v1/cities"), {"name": "Oslo", "population": 1})):
        response = await api.request(*method_path, tenant, json=body, headers=keyed(key))
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert len(await books_of(api, tenant)) == 1


async def test_concurrent_duplicates_create_once(api: Api, tenant: Tenant) -> None:
    key = str(uuid4())
    responses = await asyncio.gather(*(
        api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
        for _ in range(10)))
    created = [r for r in responses
               if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(created) == 1, [r.status_code for r in responses]
    for response in responses:
        if response is created[0]:
            continue
        if response.status_code == 409:
            assert_problem(response, 409)
            assert response.headers["retry-after"]
        else:
            assert response.status_code == 201 and response.content == created[0].content
            assert response.headers["idempotent-replayed"] == "true"
    assert [book["id"] for book in await books_of(api, tenant)] == [created[0].json()["id"]]


async def test_after_the_key_expires_it_runs_again(brief: Api) -> None:
    tenant, key = await brief.new_tenant("brief"), str(uuid4())
    first = await brief.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    again = await brief.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    assert again.headers["idempotent-replayed"] == "true"
    await asyncio.sleep(BRIEF_TTL + 0.1)
    later = await brief.request("POST", "/v1/books", tenant, json={**BOOK, "name": "Other"},
                                headers=keyed(key))
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert len(await books_of(brief, tenant)) == 2


async def test_purge_deletes_expired_keys_only(api: Api, brief: Api, table: Table) -> None:
    """On PostgreSQL the app purges as the service's role, under row-level security."""
    short, lasting = await brief.new_tenant("brief"), await api.new_tenant("lasting")
    slug = unique_slug("purge")
    operator = await brief.request("POST", "/v1/tenants", json={"slug": slug},
                                   headers=keyed(str(uuid4()), brief.admin))
    assert operator.status_code == 201
    for owner, app in ((short, brief), (short, brief), (lasting, api)):
        response = await app.request("POST", "/v1/books", owner, json=BOOK,
                                     headers=keyed(str(uuid4())))
        assert response.status_code == 201
    operator_rows = await table.count(OPERATOR_SCOPE)
    assert await table.count(short.id) == 2 and await table.count(lasting.id) == 1
    await asyncio.sleep(BRIEF_TTL + 0.1)
    purged = await brief.app.state.container.purge_idempotency_keys()(batch_size=2)
    assert purged >= 3
    assert await table.count(short.id) == 0
    assert await table.count(lasting.id) == 1
    assert await table.count(OPERATOR_SCOPE) < operator_rows


async def test_keys_belong_to_their_tenant(api: Api, tenant: Tenant) -> None:
    other, key = await api.new_tenant("other"), str(uuid4())
    mine = await api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    theirs = await api.request("POST", "/v1/books", other, json=BOOK, headers=keyed(key))
    operator = await api.request("POST", "/v1/tenants", json={"slug": unique_slug("scoped")},
                                 headers=keyed(key, api.admin))
    for response in (mine, theirs, operator):
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert len(await books_of(api, tenant)) == len(await books_of(api, other)) == 1


async def test_deleting_a_tenant_deletes_its_keys(api: Api, table: Table) -> None:
    tenant = await api.new_tenant("doomed")
    for _ in range(2):
        await api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(str(uuid4())))
    assert await table.count(tenant.id) == 2
    deleted = await api.request("DELETE", f"/v1/tenants/{tenant.id}", headers=api.admin)
    assert deleted.status_code == 204
    assert await table.count(tenant.id) == 0


async def test_the_table_holds_no_key_and_no_answer_in_clear(api: Api, table: Table) -> None:
    key, slug = f"clear-key-{uuid4()}", unique_slug("clear")
    created = await api.request("POST", "/v1/tenants", json={"slug": slug},
                                headers=keyed(key, api.admin))
    token = created.json()["api_key"]["key"]
    secret = token.split("_", 2)[2]  # ck_<ids>_<secret>; the secret may hold "_" itself
    stored = [value for row in await table.rows(OPERATOR_SCOPE) for value in row]
    raw = b"\x00".join(value if isinstance(value, bytes) else str(value).encode()
                       for value in stored)
    assert stored
    for needle in (key, secret, token, slug, created.json()["tenant"]["id"]):
        assert needle.encode() not in raw, needle


async def test_without_valid_credentials_the_route_answers(api: Api, tenant: Tenant) -> None:
    key = str(uuid4())
    bad = await api.request("POST", "/v1/books", json=BOOK,
                            headers=keyed(key, {"Authorization": "Bearer nope"}))
    assert_problem(bad, 401)
    wrong = await api.request("POST", "/v1/tenants", tenant, json={"slug": unique_slug()},
                              headers=keyed(key))
    assert_problem(wrong, 401)
    good = await api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_malformed_keys_are_422(api: Api, tenant: Tenant, key: str) -> None:
    response = await api.request("POST", "/v1/books", tenant, json=BOOK,
                                 headers={"Idempotency-Key": key.encode("utf-8")})
    assert assert_problem(response, 422)["errors"][0]["field"] == "Idempotency-Key"
    assert await books_of(api, tenant) == []


async def test_other_methods_ignore_the_key(api: Api, tenant: Tenant) -> None:
    book = (await api.request("POST", "/v1/books", tenant, json=BOOK)).json()
    key = str(uuid4())
    for version in (2, 3):
        response = await api.request("PATCH", f"/v1/books/{book['id']}", tenant,
                                     json={"release_year": 1965 + version}, headers=keyed(key))
        assert response.json()["version"] == version
        assert "idempotent-replayed" not in response.headers


async def test_every_post_documents_the_key(api: Api) -> None:
    document = (await api.request("GET", "/openapi.json")).json()
    posts = [item["post"] for item in document["paths"].values() if "post" in item]
    assert len(posts) >= 6
    for operation in posts:
        assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
        assert {"409", "422"} <= set(operation["responses"])
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                assert "Idempotent-Replayed" in response["headers"]


async def test_bodies_refused_at_the_edge_claim_no_key(api: Api, tenant: Tenant) -> None:
    key = str(uuid4())
    too_large = await api.request("POST", "/v1/books", tenant, content=b" " * (1024 * 1024 + 1),
                                  headers=keyed(key, {"content-type": "application/json"}))
    assert_problem(too_large, 413)
    wrong_type = await api.request("POST", "/v1/books", tenant, content=b"name=x",
                                   headers=keyed(key, {"content-type": "text/plain"}))
    assert_problem(wrong_type, 415)
    created = await api.request("POST", "/v1/books", tenant, json=BOOK, headers=keyed(key))
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers
