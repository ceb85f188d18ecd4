"""Security headers, HEAD, no Host redirects, and one status per kind of bad body."""

import pytest

from tests.api.client import Api, Tenant, assert_problem, unique_slug

BOOK = {"name": "n", "author": "a", "release_year": 1}


async def test_secrets_and_tenant_data_are_not_stored_by_caches(api: Api, tenant: Tenant) -> None:
    created = await api.request("POST", "/v1/tenants", json={"slug": unique_slug()},
                                headers=api.admin)
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    for method, path, body in (("GET", "/v1/me", None), ("POST", "/v1/books", BOOK),
                               ("GET", "/v1/books", None), ("GET", "/v1/nope", None)):
        response = await api.request(method, path, tenant, json=body)
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-content-type-options"] == "nosniff", path
    health = await api.request("GET", "/healthz")
    assert health.headers["x-content-type-options"] == "nosniff"


async def test_head_is_get_without_the_body_and_405_allows_it(api: Api, tenant: Tenant) -> None:
    book = (await api.request("POST", "/v1/books", tenant, json=BOOK)).json()
    get = await api.request("GET", f"/v1/books/{book['id']}", tenant)
    head = await api.request("HEAD", f"/v1/books/{book['id']}", tenant)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert (await api.request("HEAD", f"/v1/books/{book['id']}", tenant,
                              headers={"If-None-Match": get.headers["etag"]})).status_code == 304
    assert (await api.request("HEAD", "/v1/me")).status_code == 401
    refused = await api.request("DELETE", "/v1/books", tenant)
    assert_problem(refused, 405)
    assert {"GET", "HEAD", "POST"} <= {m.strip() for m in refused.headers["allow"].split(",")}


@pytest.mark.parametrize("path", ["/v1/me/", "/v1/books/", "/healthz/", "/v1/tenants/"])
async def test_a_trailing_slash_is_404_not_a_redirect(api: Api, tenant: Tenant,
                                                      path: str) -> None:
    response = await api.request("GET", path, tenant, headers={"Host": "evil.example.com"})
    assert_problem(response, 404)
    assert "location" not in response.headers


@pytest.mark.parametrize("raw", [b"\xff\xfe", b'{"name": "\xff", "author": "a", '
                                 b'"release_year": 1}', b"{", b'{"name": "\xc3"}'])
@pytest.mark.parametrize("path", ["/v1/books", "/v1/users/by-name/someone"])
async def test_bodies_that_are_not_json_are_one_422(api: Api, tenant: Tenant, raw: bytes,
                                                    path: str) -> None:
    response = await api.request("POST", path, tenant, content=raw,
                                 headers={"content-type": "application/json"})
    body = assert_problem(response, 422)
    assert body["errors"] and body["errors"][0]["location"] == "body"


async def test_docs_need_no_network(api: Api) -> None:
    page = await api.request("GET", "/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assert (await api.request("GET", "/docs/assets/swagger-ui-bundle.js")).status_code == 200
    assert (await api.request("GET", "/metrics")).status_code == 200  # no token set: open
