"""API keys on every backend: scopes, expiry, rolling with overlap, self-service isolation
between tenants, the operator's key routes, and when a key was last used."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.client import Api, Tenant, assert_problem

WRITES = [("POST", "/v1/books", {"name": "n", "author": "a", "release_year": 1}),
          ("PATCH", "/v1/books/01900000-0000-7000-8000-000000000000", {"name": "x"}),
          ("PUT", "/v1/users/by-name/ada", {"full_name": "Ada"}),
          ("DELETE", "/v1/cities/01900000-0000-7000-8000-000000000000", None),
          ("POST", "/v1/api-keys", {})]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_key(api: Api, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await api.request("POST", "/v1/api-keys", tenant, json=body)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/api-keys/{response.json()['id']}"
    return response.json()  # type: ignore[no-any-return]


async def until_status(api: Api, key: str, status: int, timeout: float = 10.0) -> float:
    """Seconds until GET /v1/me with `key` answers `status` (bounded by `timeout`)."""
    started = time.monotonic()
    while True:
        response = await api.request("GET", "/v1/me", headers=bearer(key))
        if response.status_code == status:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"still {response.status_code}"
        await asyncio.sleep(0.05)


async def test_a_new_key_shows_its_secret_once_and_its_metadata_after(api: Api,
                                                                      tenant: Tenant) -> None:
    later = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    created = await new_key(api, tenant, name="deploy bot", scopes=["read"],
                            expires_at=later.isoformat())
    assert created["key"].startswith("ck_") and created["name"] == "deploy bot"
    assert created["scopes"] == ["read"] and created["revoked_at"] is None
    assert datetime.fromisoformat(created["expires_at"]) == later
    got = await api.request("GET", f"/v1/api-keys/{created['id']}", tenant)
    assert got.status_code == 200 and got.json() == {k: v for k, v in created.items() if k != "key"}
    listed = (await api.request("GET", "/v1/api-keys", tenant)).json()
    assert [k["id"] for k in listed["items"]] == [tenant.key_id, created["id"]]
    assert created["key"] not in str(listed) and all("key" not in k for k in listed["items"])
    first = (await api.request("GET", "/v1/api-keys", tenant, params={"limit": 1})).json()
    rest = (await api.request("GET", "/v1/api-keys", tenant,
                              params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert [k["id"] for k in first["items"] + rest["items"]] == [tenant.key_id, created["id"]]
    assert rest["next_cursor"] is None


async def test_defaults_are_a_nameless_read_write_key_that_never_expires(api: Api,
                                                                          tenant: Tenant) -> None:
    response = await api.request("POST", "/v1/api-keys", tenant)  # no body at all
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["scopes"], body["expires_at"]) == ("", ["read", "write"], None)
    assert (await api.request("POST", "/v1/books", headers=bearer(body["key"]),
                              json=WRITES[0][2])).status_code == 201


async def test_a_read_key_may_only_read(api: Api, tenant: Tenant) -> None:
    reader = (await new_key(api, tenant, scopes=["read"]))["key"]
    for path in ("/v1/me", "/v1/books", "/v1/cities/biggest"):
        assert (await api.request("GET", path, headers=bearer(reader))).status_code == 200
    for method, path, body in WRITES:
        response = await api.request(method, path, headers=bearer(reader), json=body)
        assert assert_problem(response, 403)["type"].endswith("/insufficient-scope"), path
    for path in ("/v1/api-keys", f"/v1/api-keys/{tenant.key_id}"):  # managing keys is a write
        response = await api.request("GET", path, headers=bearer(reader))
        assert assert_problem(response, 403)["type"].endswith("/insufficient-scope")
    listed = (await api.request("GET", "/v1/books", tenant)).json()
    assert listed["items"] == []  # nothing was written


@pytest.mark.parametrize("body, field", [
    ({"scopes": ["write"]}, "scopes"), ({"scopes": []}, "scopes"),
    ({"scopes": ["read", "read"]}, "scopes"), ({"scopes": ["admin"]}, "scopes"),
    ({"scopes": "read"}, "scopes"), ({"name": "n" * 101}, "name"), ({"name": "a\x00b"}, "name"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"expires_at": "2999-01-01T00:00:00Z"}, "expires_at"),
    ({"expires_at": "2027-01-01T00:00:00"}, "expires_at"),
    ({"expires_at": "tomorrow"}, "expires_at"), ({"expires_at": 1}, "expires_at"),
    ({"expires_at": 1_900_000_000}, "expires_at"),
    ({"colour": "red"}, "colour"),
])
async def test_bad_key_options_are_422_and_issue_nothing(api: Api, tenant: Tenant,
                                                         body: dict[str, Any], field: str) -> None:
    for path, headers in (("/v1/api-keys", tenant.auth),
                          (f"/v1/tenants/{tenant.id}/api-keys", api.admin)):
        problem = assert_problem(await api.request("POST", path, headers=headers, json=body), 422)
        assert field in [e["field"].split(".")[0] for e in problem["errors"]], problem
    listed = (await api.request("GET", "/v1/api-keys", tenant)).json()
    assert [k["id"] for k in listed["items"]] == [tenant.key_id]


async def test_rolling_keeps_the_old_key_until_expires_in_then_401(api: Api,
                                                                   tenant: Tenant) -> None:
    original = await new_key(api, tenant, name="ci", scopes=["read"])
    rolled = await api.request("POST", f"/v1/api-keys/{original['id']}/roll", tenant,
                               json={"expires_in": 2})
    assert rolled.status_code == 201, rolled.text
    new = rolled.json()
    assert (new["name"], new["scopes"], new["expires_at"]) == ("ci", ["read"], None)
    assert new["id"] != original["id"] and new["key"] != original["key"]
    assert (await api.request("GET", "/v1/me", headers=bearer(original["key"]))).status_code == 200
    old = (await api.request("GET", f"/v1/api-keys/{original['id']}", tenant)).json()
    overlap = datetime.fromisoformat(old["expires_at"]) - datetime.fromisoformat(new["created_at"])
    assert timedelta(seconds=1.9) < overlap <= timedelta(seconds=2)
    await until_status(api, original["key"], 401)  # expired: exactly as a revoked key
    assert (await api.request("GET", "/v1/me", headers=bearer(new["key"]))).status_code == 200
    again = await api.request("POST", f"/v1/api-keys/{original['id']}/roll", tenant, json={})
    assert_problem(again, 409)


async def test_rolling_to_zero_stops_the_old_key_at_once_even_a_key_rolling_itself(
        api: Api, tenant: Tenant) -> None:
    assert (await api.request("GET", "/v1/me", tenant)).status_code == 200  # cached
    rolled = await api.request("POST", f"/v1/api-keys/{tenant.key_id}/roll", tenant,
                               json={"expires_in": 0})
    assert rolled.status_code == 201
    assert_problem(await api.request("GET", "/v1/me", tenant), 401)
    new_auth = bearer(rolled.json()["key"])
    assert (await api.request("GET", "/v1/me", headers=new_auth)).status_code == 200


@pytest.mark.parametrize("body", [{"expires_in": -1}, {"expires_in": 604_801},
                                  {"expires_in": "60"}, {"expires_in": 1.5}, {"other": 1}])
async def test_bad_roll_bodies_are_422(api: Api, tenant: Tenant, body: dict[str, Any]) -> None:
    response = await api.request("POST", f"/v1/api-keys/{tenant.key_id}/roll", tenant, json=body)
    assert_problem(response, 422)
    assert (await api.request("GET", "/v1/me", tenant)).status_code == 200


async def test_a_key_may_revoke_itself_and_a_revoked_key_can_still_be_read(
        api: Api, tenant: Tenant) -> None:
    other = await new_key(api, tenant)
    assert (await api.request("DELETE", f"/v1/api-keys/{tenant.key_id}", tenant)).status_code == 204
    assert_problem(await api.request("GET", "/v1/me", tenant), 401)
    got = await api.request("GET", f"/v1/api-keys/{tenant.key_id}", headers=bearer(other["key"]))
    assert got.status_code == 200 and got.json()["revoked_at"] is not None
    again = await api.request("DELETE", f"/v1/api-keys/{tenant.key_id}",
                              headers=bearer(other["key"]))
    assert again.status_code == 204
    assert_problem(await api.request("POST", f"/v1/api-keys/{tenant.key_id}/roll",
                                     headers=bearer(other["key"]), json={}), 409)


async def test_a_tenant_never_sees_or_touches_another_tenants_keys(api: Api,
                                                                   tenant: Tenant) -> None:
    stranger = await api.new_tenant("stranger")
    theirs = await new_key(api, stranger, name="theirs")
    for method, path, body in (("GET", f"/v1/api-keys/{theirs['id']}", None),
                               ("DELETE", f"/v1/api-keys/{theirs['id']}", None),
                               ("POST", f"/v1/api-keys/{theirs['id']}/roll", {}),
                               ("GET", "/v1/api-keys/01900000-0000-7000-8000-000000000000", None)):
        assert_problem(await api.request(method, path, tenant, json=body), 404)
    listed = (await api.request("GET", "/v1/api-keys", tenant)).json()
    assert [k["id"] for k in listed["items"]] == [tenant.key_id]
    assert (await api.request("GET", "/v1/me", headers=bearer(theirs["key"]))).json()["id"] \
        == stranger.id


async def test_the_operator_lists_and_issues_keys_with_options(api: Api, tenant: Tenant) -> None:
    path = f"/v1/tenants/{tenant.id}/api-keys"
    issued = await api.request("POST", path, headers=api.admin,
                               json={"name": "ops", "scopes": ["read"]})
    assert issued.status_code == 201 and issued.json()["scopes"] == ["read"]
    bare = await api.request("POST", path, headers=api.admin)
    assert bare.status_code == 201 and bare.json()["scopes"] == ["read", "write"]
    listed = (await api.request("GET", path, headers=api.admin)).json()
    assert [k["id"] for k in listed["items"]] == [tenant.key_id, issued.json()["id"],
                                                  bare.json()["id"]]
    assert all("key" not in k for k in listed["items"])
    missing = "/v1/tenants/01900000-0000-7000-8000-000000000000/api-keys"
    assert_problem(await api.request("GET", missing, headers=api.admin), 404)
    assert_problem(await api.request("GET", path, tenant), 401)


async def test_deleting_the_tenant_kills_its_keys_at_once(api: Api, tenant: Tenant) -> None:
    other = await new_key(api, tenant)
    for key in (tenant.key, other["key"]):
        assert (await api.request("GET", "/v1/me", headers=bearer(key))).status_code == 200
    assert (await api.request("DELETE", f"/v1/tenants/{tenant.id}",
                              headers=api.admin)).status_code == 204
    for key in (tenant.key, other["key"]):
        assert_problem(await api.request("GET", "/v1/me", headers=bearer(key)), 401)


async def test_last_used_at_is_recorded_off_the_request(api: Api, tenant: Tenant) -> None:
    key = await new_key(api, tenant)
    assert key["last_used_at"] is None
    before = datetime.now(UTC)
    assert (await api.request("GET", "/v1/me", headers=bearer(key["key"]))).status_code == 200
    deadline = time.monotonic() + 10
    while True:
        got = (await api.request("GET", f"/v1/api-keys/{key['id']}", tenant)).json()
        if got["last_used_at"] is not None:
            break
        assert time.monotonic() < deadline, "last_used_at was never written"
        await asyncio.sleep(0.05)
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(got["last_used_at"]) \
        <= datetime.now(UTC)
