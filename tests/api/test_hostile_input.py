"""Every hostile input the contract lists gets its own 4xx as problem+json, never a 500."""

import json

import httpx
import pytest
from dependency_injector import providers

from entrypoints.http.app import create_app
from tests.api.client import Api, Tenant, assert_problem, settings_for

GOOD = {"name": "n", "author": "a", "release_year": 1}
JSON = {"content-type": "application/json"}


async def post_raw(api: Api, tenant: Tenant, path: str, content: bytes,
                   headers: dict[str, str] | None = None) -> httpx.Response:
    return await api.request("POST", path, tenant, content=content, headers=headers or JSON)


@pytest.mark.parametrize("raw", [b"{", b'{"name": "x",}', b"nul", b"\xff\xfe", b"[1, 2",
                                 b'{"name": "a" "b"}'])
async def test_malformed_json_is_422(api: Api, tenant: Tenant, raw: bytes) -> None:
    body = assert_problem(await post_raw(api, tenant, "/v1/books", raw), 422)
    assert body["errors"]


@pytest.mark.parametrize("field,value", [
    ("name", 5), ("name", ["x"]), ("name", {"a": 1}), ("release_year", "1999"),
    ("release_year", 19.5), ("release_year", True), ("release_year", None), ("author", False)])
async def test_wrong_types_are_422(api: Api, tenant: Tenant, field: str, value: object) -> None:
    response = await api.request("POST", "/v1/books", tenant, json={**GOOD, field: value})
    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == [field]


@pytest.mark.parametrize("path,body,field", [
    ("/v1/books", {**GOOD, "release_year": 10_000}, "release_year"),
    ("/v1/books", {**GOOD, "release_year": -5001}, "release_year"),
    ("/v1/cities", {"name": "c", "population": 2**63}, "population"),
    ("/v1/cities", {"name": "c", "population": -1}, "population"),
    ("/v1/cities", {"name": "c", "population": 10**30}, "population"),
])
async def test_out_of_range_integers_are_422(api: Api, tenant: Tenant, path: str, body: dict,
                                             field: str) -> None:
    response = await api.request("POST", path, tenant, json=body)
    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == [field]


async def test_huge_integer_literal_is_4xx(api: Api, tenant: Tenant) -> None:
    raw = b'{"name": "c", "population": ' + b"9" * 5000 + b"}"
    response = await post_raw(api, tenant, "/v1/cities", raw)
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)


@pytest.mark.parametrize("text", ["a\u0000b", "\ud800", "x\udfffy"])
async def test_nul_and_lone_surrogates_are_422(api: Api, tenant: Tenant, text: str) -> None:
    raw = json.dumps({**GOOD, "name": text}).encode()  # ensure_ascii keeps \\u escapes
    response = await post_raw(api, tenant, "/v1/books", raw)
    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["name"]
    listed = await api.request("GET", "/v1/books", tenant)
    assert listed.json()["items"] == []


async def test_nul_in_path_and_query_is_422(api: Api, tenant: Tenant) -> None:
    assert_problem(await api.request("GET", "/v1/users/by-name/a%00b", tenant), 422)
    assert_problem(await api.request("POST", "/v1/users/by-name/a%00b", tenant), 422)
    assert_problem(await api.request("GET", "/v1/books", tenant, params={"author": "a\x00"}), 422)


@pytest.mark.parametrize("path,body", [
    ("/v1/books", {**GOOD, "name": "x" * 201}), ("/v1/books", {**GOOD, "author": ""}),
    ("/v1/users", {"name": "u", "full_name": "f" * 201}), ("/v1/cities", {"name": "",
                                                                          "population": 1})])
async def test_string_lengths(api: Api, tenant: Tenant, path: str, body: dict) -> None:
    assert_problem(await api.request("POST", path, tenant, json=body), 422)


async def test_too_long_user_name_in_path(api: Api, tenant: Tenant) -> None:
    assert_problem(await api.request("PUT", f"/v1/users/by-name/{'u' * 201}", tenant,
                                     json={"full_name": ""}), 422)


async def test_unknown_fields_are_422(api: Api, tenant: Tenant) -> None:
    response = await api.request("POST", "/v1/books", tenant, json={**GOOD, "isbn": "x"})
    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["isbn"]
    assert (await api.request("GET", "/v1/books", tenant)).json()["items"] == []


async def test_body_not_an_object_is_422(api: Api, tenant: Tenant) -> None:
    for raw in (b"[]", b'"x"', b"1", b"null"):
        assert_problem(await post_raw(api, tenant, "/v1/books", raw), 422)


async def test_oversized_body_with_content_length_is_413(api: Api, tenant: Tenant) -> None:
    raw = json.dumps({**GOOD, "name": "x" * (1024 * 1024)}).encode()
    assert_problem(await post_raw(api, tenant, "/v1/books", raw), 413)


async def test_oversized_chunked_body_is_413(api: Api, tenant: Tenant) -> None:
    async def chunks():  # no Content-Length: sent chunked
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = await api.request("POST", "/v1/books", tenant, content=chunks(), headers=JSON)
    assert_problem(response, 413)


async def test_body_just_under_limit_is_judged_on_its_content(api: Api, tenant: Tenant) -> None:
    raw = json.dumps({**GOOD, "name": "x" * (1024 * 1024 - 100)}).encode()
    assert_problem(await post_raw(api, tenant, "/v1/books", raw), 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
async def test_wrong_content_type_is_415(api: Api, tenant: Tenant, content_type: str) -> None:
    response = await post_raw(api, tenant, "/v1/books", json.dumps(GOOD).encode(),
                              {"content-type": content_type})
    assert_problem(response, 415)
    assert (await api.request("GET", "/v1/books", tenant)).json()["items"] == []


async def test_json_with_charset_is_accepted(api: Api, tenant: Tenant) -> None:
    response = await post_raw(api, tenant, "/v1/books", json.dumps(GOOD).encode(),
                              {"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 201


async def test_unknown_route_is_404(api: Api, tenant: Tenant) -> None:
    assert_problem(await api.request("GET", "/v1/nothing-here", tenant), 404)
    assert_problem(await api.request("GET", "/", tenant), 404)


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/v1/books", {"GET", "POST"}),
    ("POST", "/v1/cities/biggest", {"GET"}),
    ("PATCH", "/v1/cities/biggest", {"GET"}),  # not taken for a city's id
    ("DELETE", "/v1/cities/biggest", {"GET"}),
    ("PUT", "/v1/cities/01900000-0000-7000-8000-000000000000", {"GET", "PATCH", "DELETE"}),
    ("DELETE", "/v1/users/by-name/x", {"GET", "POST", "PUT"}),
    ("PUT", "/v1/tenants", {"GET", "POST"}),
])
async def test_wrong_method_is_405_with_allow(api: Api, tenant: Tenant, method: str, path: str,
                                              allowed: set[str]) -> None:
    response = await api.request(method, path, tenant)
    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} - {"HEAD"} == allowed


async def test_bad_ids_cursors_and_limits(api: Api, tenant: Tenant) -> None:
    assert_problem(await api.request("GET", "/v1/books/not-a-uuid", tenant), 404)  # no such id
    for cursor in ("zzz", "AAAA", "!!", "a" * 500):
        response = await api.request("GET", "/v1/books", tenant, params={"cursor": cursor})
        assert_problem(response, 400)
    await api.request("POST", "/v1/books", tenant,
                      json={"name": "first", "author": "a", "release_year": 1})
    first = await api.request("GET", "/v1/books", tenant, params={"limit": 1})
    empty = await api.request("GET", "/v1/books", tenant, params={"limit": 1, "cursor": ""})
    assert empty.status_code == 200 and empty.json() == first.json()  # an empty cursor: page 1
    for limit in ("0", "101", "x"):
        assert_problem(await api.request("GET", "/v1/users", tenant, params={"limit": limit}),
                       422)


async def test_request_id_is_echoed_or_made(api: Api, tenant: Tenant) -> None:
    echoed = await api.request("GET", "/v1/me", tenant, headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = await api.request("GET", "/v1/nope", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id with spaces")
    assert len(made.headers["x-request-id"]) >= 16


async def test_a_crash_is_500_hiding_internals_with_request_id(sqlite_url: str) -> None:
    app = create_app(settings_for(sqlite_url))

    class Broken:
        async def __call__(self, *args: object) -> None:
            raise RuntimeError("password=hunter2 in /srv/secret.py")

    app.state.container.authenticate.override(providers.Object(Broken()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/v1/me", headers={"Authorization": "Bearer x",
                                                           "X-Request-ID": "req-42"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "req-42" and response.headers["x-request-id"] == "req-42"
    assert "hunter2" not in response.text and "secret" not in response.text


@pytest.mark.parametrize("text", ["a\nb", "abc\n", "\tx", "x\r", "a\x1bb", "a\x7f", "a\x85b"])
async def test_control_characters_in_names_are_422(api: Api, tenant: Tenant, text: str) -> None:
    response = await api.request("POST", "/v1/cities", tenant,
                                 json={"name": text, "population": 1})
    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["name"]
    response = await api.request("POST", "/v1/users", tenant,
                                 json={"name": "ok", "full_name": text})
    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["full_name"]
    assert_problem(await api.request("GET", "/v1/books", tenant, params={"author": text}), 422)
    quoted = "".join(f"%{ord(c):02X}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    for method in ("GET", "POST", "PUT"):
        body = {"json": {"full_name": ""}} if method == "PUT" else {}
        response = await api.request(method, f"/v1/users/by-name/{quoted}", tenant, **body)
        assert assert_problem(response, 422)["errors"][0]["location"] == "path"
    assert (await api.request("GET", "/v1/users", tenant)).json()["items"] == []


async def test_names_keep_every_other_character(api: Api, tenant: Tenant) -> None:
    name = "Zoë O'Brien — 東京 🚀 a/b %41"
    response = await api.request("POST", "/v1/cities", tenant,
                                 json={"name": name, "population": 1})
    assert response.status_code == 201 and response.json()["name"] == name


async def test_whole_floats_are_integers_fractions_are_not(api: Api, tenant: Tenant) -> None:
    made = await api.request("POST", "/v1/cities", tenant,
                             json={"name": "Whole", "population": 594.0})
    assert made.status_code == 201 and made.json()["population"] == 594
    assert isinstance(made.json()["population"], int)
    book = await api.request("POST", "/v1/books", tenant,
                             json={"name": "n", "author": "a", "release_year": 1.0e3})
    assert book.status_code == 201 and book.json()["release_year"] == 1000
    for value in (594.5, "594", True, 1e19, 9.3e18):
        response = await api.request("POST", "/v1/cities", tenant,
                                     json={"name": f"n{value}", "population": value})
        assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["population"]


async def test_get_or_create_by_name_takes_no_body(api: Api, tenant: Tenant) -> None:
    created = await api.request("POST", "/v1/users/by-name/nobody", tenant)
    assert created.status_code == 201 and created.json()["full_name"] == ""
    typed = await api.request("POST", "/v1/users/by-name/nobody", tenant,
                              headers={"content-type": "application/json"})
    assert typed.status_code == 200 and typed.json()["id"] == created.json()["id"]
