"""If-Match and If-None-Match read as RFC 9110 says, on every resource and backend: lists,
weak tags, `*`; values the service cannot match are 412, invalid ones 400, never a 5xx."""

import uuid

import pytest

from entrypoints.http.rendering import if_match_versions, parse_entity_tags
from tests.api.client import Api, Tenant, assert_problem

KINDS = {"books": {"name": "n", "author": "a", "release_year": 1},
         "cities": {"name": "c", "population": 1},
         "users": {"name": "u", "full_name": "U"}}
PATCHES = {"books": {"release_year": 2}, "cities": {"population": 2}, "users": {"full_name": "V"}}

NEVER_MATCH = [
    '"2"', 'W/"1"', '"01"', '"-1"', '"+1"', '"1.0"', '"0"', '""',
    f'"{2**31}"', f'"{2**63}"', f'"{2**64 + 1}"', '"' + "9" * 4300 + '"', '"' + "1" * 10000 + '"',
    '"\u0661"', '"\u00b2"', '"1\u0660"', '"\uff11"',  # digits str.isdigit() takes, int() not all
    'W/"1", "2"', '"x", "y"', '"3",', ', "3"',
]
INVALID = ["1", "W/1", '"1', '1"', '"1" "1"', "*, \"1\"", "w/\"1\"", '"a"b"', ",", "", "  ",
           '"\x7f"', '"1"x', '"1 "']


async def created(api: Api, tenant: Tenant, kind: str) -> str:
    body = {**KINDS[kind], "name": f"{KINDS[kind]['name']}-{uuid.uuid4().hex[:8]}"}
    response = await api.request("POST", f"/v1/{kind}", tenant, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def latin1(value: str) -> bytes:
    """The header's bytes: UTF-8 for what latin-1 cannot carry, as a client would send."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", NEVER_MATCH)
async def test_values_that_cannot_match_are_412(api: Api, tenant: Tenant, kind: str,
                                                value: str) -> None:
    record = await created(api, tenant, kind)
    headers = {"If-Match": latin1(value)}
    patch = await api.request("PATCH", f"/v1/{kind}/{record}", tenant, json=PATCHES[kind],
                              headers=headers)
    assert_problem(patch, 412)
    delete = await api.request("DELETE", f"/v1/{kind}/{record}", tenant, headers=headers)
    assert_problem(delete, 412)
    assert (await api.request("GET", f"/v1/{kind}/{record}", tenant)).json()["version"] == 1


@pytest.mark.parametrize("value", INVALID)
async def test_values_that_are_no_entity_tags_are_400(api: Api, tenant: Tenant,
                                                      value: str) -> None:
    record = await created(api, tenant, "books")
    for method, body in (("PATCH", PATCHES["books"]), ("PUT", KINDS["books"]), ("DELETE", None)):
        response = await api.request(method, f"/v1/books/{record}", tenant, json=body,
                                     headers={"If-Match": value})
        assert_problem(response, 400)


@pytest.mark.parametrize("value", ['"1"', "*", ' "1" ', '"7", "1"', 'W/"1", "1"', '"1",,"9"',
                                   '"x", "1", "' + "9" * 5000 + '"'])
async def test_values_that_match_change_the_record(api: Api, tenant: Tenant, value: str) -> None:
    record = await created(api, tenant, "books")
    response = await api.request("PUT", f"/v1/books/{record}", tenant, json=KINDS["books"],
                                 headers={"If-Match": value})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and response.headers["etag"] == '"2"'
    stale = await api.request("DELETE", f"/v1/books/{record}", tenant,
                              headers={"If-Match": value if value != "*" else '"1"'})
    assert_problem(stale, 412)
    assert (await api.request("DELETE", f"/v1/books/{record}", tenant,
                              headers={"If-Match": '"1", "2"'})).status_code == 204


@pytest.mark.parametrize("value", ['"1"', f'"{2**63}"', '"\u0661"', "1", '"1", "2"'])
async def test_a_missing_record_is_404_whatever_if_match_says(api: Api, tenant: Tenant,
                                                              value: str) -> None:
    missing = uuid.uuid4()
    for method in ("PATCH", "DELETE"):
        response = await api.request(method, f"/v1/books/{missing}", tenant,
                                     json=PATCHES["books"] if method == "PATCH" else None,
                                     headers={"If-Match": latin1(value)})
        assert response.status_code in (400, 404), response.text
        assert response.status_code == (400 if value == "1" else 404)


async def test_if_none_match_uses_weak_comparison(api: Api, tenant: Tenant) -> None:
    record = await created(api, tenant, "cities")
    for value in ('"1"', 'W/"1"', '"5", W/"1"', "*"):
        response = await api.request("GET", f"/v1/cities/{record}", tenant,
                                     headers={"If-None-Match": value})
        assert response.status_code == 304, value
    for value in ('"2"', f'"{2**70}"', "garbage", '"\u0661"'):
        response = await api.request("GET", f"/v1/cities/{record}", tenant,
                                     headers={"If-None-Match": latin1(value)})
        assert response.status_code == 200, value


def test_the_entity_tag_parser() -> None:
    assert parse_entity_tags('"a", W/"b",, "c,d"') == (False, ((False, "a"), (True, "b"),
                                                               (False, "c,d")))
    assert parse_entity_tags(" * ") == (True, ())
    assert parse_entity_tags('"a""b"') is None
    assert if_match_versions(None) is None and if_match_versions("*") is None
    assert if_match_versions('W/"1", "2", "02", "x"') == frozenset({2})
    assert if_match_versions(f'"{2**31 - 1}", "{2**31}"') == frozenset({2**31 - 1})
