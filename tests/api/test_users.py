"""Users through the API: by name, get-or-create and update-or-create, also concurrently."""

import asyncio

from tests.api.client import Api, Tenant, assert_problem


async def test_create_conflict_and_get_by_name(api: Api, tenant: Tenant) -> None:
    created = await api.request("POST", "/v1/users", tenant, json={"name": "ada"})
    assert created.status_code == 201 and created.json()["full_name"] == ""
    assert_problem(await api.request("POST", "/v1/users", tenant, json={"name": "ada"}), 409)
    found = await api.request("GET", "/v1/users/by-name/ada", tenant)
    assert found.status_code == 200 and found.json() == created.json()
    assert_problem(await api.request("GET", "/v1/users/by-name/bob", tenant), 404)


async def test_names_with_slashes_and_unicode(api: Api, tenant: Tenant) -> None:
    for name in ("a/b", "zoë", "x y"):
        made = await api.request("POST", f"/v1/users/by-name/{name}", tenant)
        assert made.status_code == 201 and made.json()["name"] == name
        again = await api.request("GET", f"/v1/users/by-name/{name}", tenant)
        assert again.json()["id"] == made.json()["id"]


async def test_get_or_create(api: Api, tenant: Tenant) -> None:
    first = await api.request("POST", "/v1/users/by-name/grace", tenant,
                              json={"full_name": "Grace Hopper"})
    assert first.status_code == 201 and first.json()["full_name"] == "Grace Hopper"
    assert first.headers["location"] == f"/v1/users/{first.json()['id']}"
    second = await api.request("POST", "/v1/users/by-name/grace", tenant,
                               json={"full_name": "Someone Else"})
    assert second.status_code == 200 and second.json() == first.json()
    bare = await api.request("POST", "/v1/users/by-name/linus", tenant)
    assert bare.status_code == 201 and bare.json()["full_name"] == ""


async def test_update_or_create(api: Api, tenant: Tenant) -> None:
    created = await api.request("PUT", "/v1/users/by-name/alan", tenant, json={"full_name": "A"})
    assert created.status_code == 201 and created.json()["version"] == 1
    updated = await api.request("PUT", "/v1/users/by-name/alan", tenant,
                                json={"full_name": "Alan Turing"})
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["full_name"] == "Alan Turing" and updated.json()["version"] == 2
    same = await api.request("PUT", "/v1/users/by-name/alan", tenant,
                             json={"full_name": "Alan Turing"})
    assert same.status_code == 200 and same.json() == updated.json()
    assert_problem(await api.request("PUT", "/v1/users/by-name/alan", tenant, json={}), 422)


async def test_concurrent_get_or_create_makes_one_user(api: Api, tenant: Tenant) -> None:
    responses = await asyncio.gather(*[
        api.request("POST", "/v1/users/by-name/racer", tenant, json={"full_name": f"n{i}"})
        for i in range(20)])
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    listed = await api.request("GET", "/v1/users", tenant)
    assert [u["name"] for u in listed.json()["items"]] == ["racer"]


async def test_concurrent_update_or_create_makes_one_user(api: Api, tenant: Tenant) -> None:
    responses = await asyncio.gather(*[
        api.request("PUT", "/v1/users/by-name/upsert", tenant, json={"full_name": f"n{i}"})
        for i in range(20)])
    assert [r.status_code for r in responses].count(201) == 1
    assert {r.status_code for r in responses} <= {200, 201}
    assert len({r.json()["id"] for r in responses}) == 1
    final = (await api.request("GET", "/v1/users/by-name/upsert", tenant)).json()
    assert final["version"] == 1 + sum(1 for r in responses if r.status_code == 200)


async def test_user_patch_and_delete(api: Api, tenant: Tenant) -> None:
    user = (await api.request("POST", "/v1/users", tenant,
                              json={"name": "kay", "full_name": "Kay"})).json()
    url = f"/v1/users/{user['id']}"
    patched = await api.request("PATCH", url, tenant, json={"full_name": "Alan Kay"})
    assert patched.json()["full_name"] == "Alan Kay" and patched.json()["name"] == "kay"
    assert (await api.request("DELETE", url, tenant)).status_code == 204
    assert_problem(await api.request("GET", "/v1/users/by-name/kay", tenant), 404)
