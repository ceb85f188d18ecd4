"""Books through the API: create, read, list, change and delete, with ETags and If-Match."""

from tests.api.client import Api, Tenant, assert_problem

BOOK = {"name": "Dune", "author": "Frank Herbert", "release_year": 1965}


async def create(api: Api, tenant: Tenant, **fields: object) -> dict:
    response = await api.request("POST", "/v1/books", tenant, json={**BOOK, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_then_get(api: Api, tenant: Tenant) -> None:
    response = await api.request("POST", "/v1/books", tenant, json=BOOK)
    assert response.status_code == 201
    book = response.json()
    assert response.headers["location"] == f"/v1/books/{book['id']}"
    assert {k: book[k] for k in BOOK} == BOOK
    assert book["version"] == 1 and book["created_at"] == book["updated_at"]
    assert book["created_at"].endswith("Z")
    got = await api.request("GET", f"/v1/books/{book['id']}", tenant)
    assert got.status_code == 200 and got.json() == book
    assert got.headers["etag"] == '"1"'


async def test_if_none_match_gives_304(api: Api, tenant: Tenant) -> None:
    book = await create(api, tenant)
    url = f"/v1/books/{book['id']}"
    same = await api.request("GET", url, tenant, headers={"If-None-Match": '"1"'})
    assert same.status_code == 304 and same.content == b""
    other = await api.request("GET", url, tenant, headers={"If-None-Match": '"7"'})
    assert other.status_code == 200


async def test_patch_changes_only_fields_sent(api: Api, tenant: Tenant) -> None:
    book = await create(api, tenant)
    response = await api.request("PATCH", f"/v1/books/{book['id']}", tenant,
                                 json={"release_year": 1966})
    assert response.status_code == 200
    patched = response.json()
    assert patched["release_year"] == 1966 and patched["name"] == BOOK["name"]
    assert patched["version"] == 2 and patched["updated_at"] > book["updated_at"]
    assert response.headers["etag"] == '"2"'
    stored = (await api.request("GET", f"/v1/books/{book['id']}", tenant)).json()
    assert stored == patched


async def test_patch_with_null_is_refused(api: Api, tenant: Tenant) -> None:
    book = await create(api, tenant)
    response = await api.request("PATCH", f"/v1/books/{book['id']}", tenant, json={"name": None})
    assert assert_problem(response, 422)["errors"][0]["field"] == "name"


async def test_empty_patch_changes_nothing(api: Api, tenant: Tenant) -> None:
    book = await create(api, tenant)
    response = await api.request("PATCH", f"/v1/books/{book['id']}", tenant, json={})
    assert response.status_code == 200 and response.json() == book


async def test_put_requires_every_field(api: Api, tenant: Tenant) -> None:
    book = await create(api, tenant)
    url = f"/v1/books/{book['id']}"
    partial = await api.request("PUT", url, tenant, json={"name": "X"})
    fields = {e["field"] for e in assert_problem(partial, 422)["errors"]}
    assert fields == {"author", "release_year"}
    full = await api.request("PUT", url, tenant, json={"name": "X", "author": "Y",
                                                          "release_year": 2000})
    assert full.status_code == 200
    assert full.json()["name"] == "X" and full.json()["version"] == 2


async def test_if_match_guards_changes(api: Api, tenant: Tenant) -> None:
    book = await create(api, tenant)
    url = f"/v1/books/{book['id']}"
    first = await api.request("PATCH", url, tenant, json={"name": "A"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    stale = await api.request("PATCH", url, tenant, json={"name": "B"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412)
    stale_put = await api.request("PUT", url, tenant, json=BOOK, headers={"If-Match": '"1"'})
    assert_problem(stale_put, 412)
    stale_delete = await api.request("DELETE", url, tenant, headers={"If-Match": '"1"'})
    assert_problem(stale_delete, 412)
    assert (await api.request("GET", url, tenant)).json()["name"] == "A"
    deleted = await api.request("DELETE", url, tenant, headers={"If-Match": '"2"'})
    assert deleted.status_code == 204


async def test_delete(api: Api, tenant: Tenant) -> None:
    book = await create(api, tenant)
    url = f"/v1/books/{book['id']}"
    assert (await api.request("DELETE", url, tenant)).status_code == 204
    assert_problem(await api.request("GET", url, tenant), 404)
    assert_problem(await api.request("DELETE", url, tenant), 404)
    assert_problem(await api.request("PATCH", url, tenant, json={"name": "x"}), 404)


async def test_list_in_creation_order_with_keyset_pages(api: Api, tenant: Tenant) -> None:
    made = [(await create(api, tenant, name=f"book {i}"))["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await api.request("GET", "/v1/books", tenant, params=params)
        assert page.status_code == 200
        body = page.json()
        assert len(body["items"]) <= 3
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        await create(api, tenant, name="inserted while paging")  # later pages stay stable
    assert seen[:7] == made


async def test_list_filter_by_author(api: Api, tenant: Tenant) -> None:
    await create(api, tenant, author="Ursula K. Le Guin")
    await create(api, tenant, author="Ursula")
    await create(api, tenant, author="ursula k. le guin")
    page = await api.request("GET", "/v1/books", tenant, params={"author": "Ursula K. Le Guin"})
    assert [b["author"] for b in page.json()["items"]] == ["Ursula K. Le Guin"]
