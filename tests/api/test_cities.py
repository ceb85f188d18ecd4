"""Cities through the API: unique names per tenant and the biggest ones."""

from tests.api.client import Api, Tenant, assert_problem


async def add_city(api: Api, tenant: Tenant, name: str, population: int) -> dict:
    response = await api.request("POST", "/v1/cities", tenant,
                                 json={"name": name, "population": population})
    assert response.status_code == 201, response.text
    return response.json()


async def test_name_is_unique_within_tenant(api: Api, tenant: Tenant) -> None:
    await add_city(api, tenant, "Lyon", 500_000)
    taken = await api.request("POST", "/v1/cities", tenant, json={"name": "Lyon", "population": 1})
    assert "Lyon" in assert_problem(taken, 409)["detail"]
    other = await api.new_tenant()
    await add_city(api, other, "Lyon", 2)  # free in another tenant


async def test_rename_to_taken_name_is_409_and_changes_nothing(api: Api, tenant: Tenant) -> None:
    await add_city(api, tenant, "Nice", 1)
    nantes = await add_city(api, tenant, "Nantes", 2)
    url = f"/v1/cities/{nantes['id']}"
    assert_problem(await api.request("PATCH", url, tenant, json={"name": "Nice"}), 409)
    assert (await api.request("GET", url, tenant)).json() == nantes


async def test_biggest_most_populated_first_ties_by_name(api: Api, tenant: Tenant) -> None:
    for name, population in [("b", 10), ("a", 10), ("c", 30), ("d", 5), ("e", 2**63 - 1)]:
        await add_city(api, tenant, name, population)
    response = await api.request("GET", "/v1/cities/biggest", tenant, params={"limit": 4})
    assert response.status_code == 200
    assert [(c["name"], c["population"]) for c in response.json()] == [
        ("e", 2**63 - 1), ("c", 30), ("a", 10), ("b", 10)]


async def test_biggest_defaults_to_twenty(api: Api, tenant: Tenant) -> None:
    for i in range(23):
        await add_city(api, tenant, f"city {i:02}", i)
    response = await api.request("GET", "/v1/cities/biggest", tenant)
    populations = [c["population"] for c in response.json()]
    assert populations == list(range(22, 2, -1))


async def test_biggest_limit_out_of_range(api: Api, tenant: Tenant) -> None:
    for limit in ("0", "101", "-1", "ten"):
        response = await api.request("GET", "/v1/cities/biggest", tenant, params={"limit": limit})
        assert assert_problem(response, 422)["errors"][0]["field"] == "limit"


async def test_city_crud(api: Api, tenant: Tenant) -> None:
    city = await add_city(api, tenant, "Oslo", 700_000)
    url = f"/v1/cities/{city['id']}"
    patched = await api.request("PATCH", url, tenant, json={"population": 710_000})
    assert patched.json()["population"] == 710_000 and patched.json()["version"] == 2
    listed = await api.request("GET", "/v1/cities", tenant)
    assert [c["id"] for c in listed.json()["items"]] == [city["id"]]
    assert (await api.request("DELETE", url, tenant)).status_code == 204
    assert_problem(await api.request("GET", url, tenant), 404)
