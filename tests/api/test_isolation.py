"""Two tenants: neither can read, change, count or learn of the other's records."""

from tests.api.client import Api, Tenant, assert_problem

BODIES = {
    "books": {"name": "secret", "author": "someone", "release_year": 2001},
    "cities": {"name": "Secret City", "population": 10**9},
    "users": {"name": "secret-user", "full_name": "Secret"},
}
PATCHES = {"books": {"name": "stolen"}, "cities": {"population": 1}, "users": {"full_name": "x"}}


async def test_foreign_ids_answer_as_missing(api: Api) -> None:
    owner, intruder = await api.new_tenant("owner"), await api.new_tenant("intruder")
    for kind, body in BODIES.items():
        mine = (await api.request("POST", f"/v1/{kind}", owner, json=body)).json()
        url = f"/v1/{kind}/{mine['id']}"
        missing = f"/v1/{kind}/01900000-0000-7000-8000-000000000000"
        for target in (url, missing):
            assert_problem(await api.request("GET", target, intruder), 404)
            assert_problem(await api.request("PATCH", target, intruder,
                                             json=PATCHES[kind]), 404)
            assert_problem(await api.request("DELETE", target, intruder), 404)
        if kind == "books":
            assert_problem(await api.request("PUT", url, intruder, json=body), 404)
        listed = await api.request("GET", f"/v1/{kind}", intruder)
        assert listed.json() == {"items": [], "next_cursor": None}
        assert (await api.request("GET", url, owner)).json() == mine  # untouched


async def test_names_and_lookups_do_not_cross(api: Api) -> None:
    owner, intruder = await api.new_tenant("owner"), await api.new_tenant("intruder")
    await api.request("POST", "/v1/cities", owner, json=BODIES["cities"])
    assert (await api.request("GET", "/v1/cities/biggest", intruder)).json() == []
    await api.request("POST", "/v1/users", owner, json=BODIES["users"])
    assert_problem(await api.request("GET", "/v1/users/by-name/secret-user", intruder), 404)
    made = await api.request("POST", "/v1/users/by-name/secret-user", intruder)
    assert made.status_code == 201 and made.json()["full_name"] == ""
    upserted = await api.request("PUT", "/v1/users/by-name/secret-user", intruder,
                                 json={"full_name": "mine"})
    assert upserted.status_code == 200
    theirs = (await api.request("GET", "/v1/users/by-name/secret-user", owner)).json()
    assert theirs["full_name"] == "Secret" and theirs["id"] != made.json()["id"]
    assert (await api.request("GET", "/v1/books", intruder, params={"author": "someone"})).json()[
        "items"] == []


async def test_cursor_from_another_tenant_leaks_nothing(api: Api) -> None:
    owner, intruder = await api.new_tenant("owner"), await api.new_tenant("intruder")
    for i in range(3):
        await api.request("POST", "/v1/books", owner, json={**BODIES["books"], "name": f"b{i}"})
    cursor = (await api.request("GET", "/v1/books", owner, params={"limit": 1})).json()[
        "next_cursor"]
    page = await api.request("GET", "/v1/books", intruder, params={"cursor": cursor})
    assert page.json() == {"items": [], "next_cursor": None}
