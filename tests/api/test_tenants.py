"""The operator API and tenant authentication: tokens, keys, revocation, deletion."""

import httpx
import pytest

from entrypoints.http.app import create_app
from tests.api.client import ADMIN_TOKEN, Api, Tenant, assert_problem, settings_for, unique_slug


async def test_create_tenant_shows_key_once(api: Api) -> None:
    slug = unique_slug("acme")
    response = await api.request("POST", "/v1/tenants", json={"slug": slug, "name": "Acme"},
                                 headers=api.admin)
    assert response.status_code == 201
    body = response.json()
    assert body["tenant"]["slug"] == slug and body["tenant"]["name"] == "Acme"
    assert body["api_key"]["key"].startswith("ck_")
    got = await api.request("GET", f"/v1/tenants/{body['tenant']['id']}", headers=api.admin)
    assert got.json() == body["tenant"] and "key" not in got.text
    me = await api.request("GET", "/v1/me",
                           headers={"Authorization": f"Bearer {body['api_key']['key']}"})
    assert me.json() == body["tenant"]


async def test_taken_slug_is_409(api: Api, tenant: Tenant) -> None:
    again = await api.request("POST", "/v1/tenants", json={"slug": tenant.slug}, headers=api.admin)
    assert_problem(again, 409)


@pytest.mark.parametrize("slug", ["ab", "-abc", "abc-", "ABC", "a_b", "a" * 64, "é-abc", ""])
async def test_bad_slugs_are_422(api: Api, slug: str) -> None:
    response = await api.request("POST", "/v1/tenants", json={"slug": slug}, headers=api.admin)
    assert assert_problem(response, 422)["errors"][0]["field"] == "slug"


async def test_list_tenants_pages(api: Api) -> None:
    made = [(await api.new_tenant("list")).id for _ in range(3)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await api.request("GET", "/v1/tenants", params=params, headers=api.admin)).json()
        seen += [t["id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and set(made) <= set(seen)


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdA==", "Bearer"])
async def test_operator_api_needs_the_token(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await api.request("GET", "/v1/tenants", headers=headers)
    assert assert_problem(response, 401) and response.headers["www-authenticate"].startswith("Bearer")


async def test_tenant_key_is_not_an_operator_token(api: Api, tenant: Tenant) -> None:
    assert_problem(await api.request("GET", "/v1/tenants", tenant), 401)


async def test_admin_api_is_403_without_configured_token(sqlite_url: str) -> None:
    settings = settings_for(sqlite_url).model_copy(update={"admin_token": None})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            for headers in ({}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}):
                assert_problem(await client.get("/v1/tenants", headers=headers), 403)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_scheme_is_case_insensitive(api: Api, tenant: Tenant, scheme: str) -> None:
    me = await api.request("GET", "/v1/me", headers={"Authorization": f"{scheme} {tenant.key}"})
    assert me.status_code == 200 and me.json()["id"] == tenant.id


async def test_bad_keys_are_401(api: Api, tenant: Tenant) -> None:
    tampered = tenant.key[:-2] + ("AA" if not tenant.key.endswith("AA") else "BB")
    for key in ["nope", tampered, "ck_" + "0" * 64 + "_secret", tenant.key + "x", "ck_", " "]:
        response = await api.request("GET", "/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert assert_problem(response, 401) and "Bearer" in response.headers["www-authenticate"]
    assert_problem(await api.request("GET", "/v1/books"), 401)


async def test_issue_and_revoke_keys(api: Api, tenant: Tenant) -> None:
    issued = await api.request("POST", f"/v1/tenants/{tenant.id}/api-keys", headers=api.admin)
    assert issued.status_code == 201
    second = issued.json()["key"]
    second_auth = {"Authorization": f"Bearer {second}"}
    assert (await api.request("GET", "/v1/me", headers=second_auth)).status_code == 200
    assert (await api.request("GET", "/v1/me", tenant)).status_code == 200  # cached now
    revoked = await api.request("DELETE", f"/v1/tenants/{tenant.id}/api-keys/{tenant.key_id}",
                                headers=api.admin)
    assert revoked.status_code == 204
    assert_problem(await api.request("GET", "/v1/me", tenant), 401)  # at once, despite the cache
    assert (await api.request("GET", "/v1/me", headers=second_auth)).status_code == 200
    again = await api.request("DELETE", f"/v1/tenants/{tenant.id}/api-keys/{tenant.key_id}",
                              headers=api.admin)
    assert again.status_code == 204  # a retried revocation changes nothing


async def test_keys_of_unknown_tenants(api: Api, tenant: Tenant) -> None:
    other = await api.new_tenant()
    missing = "01900000-0000-7000-8000-000000000000"
    assert_problem(await api.request("POST", f"/v1/tenants/{missing}/api-keys",
                                     headers=api.admin), 404)
    cross = await api.request("DELETE", f"/v1/tenants/{other.id}/api-keys/{tenant.key_id}",
                              headers=api.admin)
    assert_problem(cross, 404)
    assert (await api.request("GET", "/v1/me", tenant)).status_code == 200


async def test_delete_tenant_removes_everything(api: Api, tenant: Tenant) -> None:
    book = (await api.request("POST", "/v1/books", tenant,
                              json={"name": "n", "author": "a", "release_year": 1})).json()
    await api.request("POST", "/v1/cities", tenant, json={"name": "c", "population": 1})
    await api.request("POST", "/v1/users/by-name/u", tenant)
    assert (await api.request("DELETE", f"/v1/tenants/{tenant.id}",
                              headers=api.admin)).status_code == 204
    assert_problem(await api.request("GET", f"/v1/tenants/{tenant.id}", headers=api.admin), 404)
    assert_problem(await api.request("GET", f"/v1/books/{book['id']}", tenant), 401)
    assert_problem(await api.request("DELETE", f"/v1/tenants/{tenant.id}",
                                     headers=api.admin), 404)
    # the same slug can be registered again, and starts empty
    reborn = await api.request("POST", "/v1/tenants", json={"slug": tenant.slug},
                               headers=api.admin)
    key = reborn.json()["api_key"]["key"]
    for path in ("/v1/books", "/v1/cities", "/v1/users"):
        listed = await api.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        assert listed.json() == {"items": [], "next_cursor": None}
