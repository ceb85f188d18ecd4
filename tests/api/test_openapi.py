"""The OpenAPI document matches what the service does: every answer an operation gives is
one it documents, and every documented error is problem+json."""

import uuid
from typing import Any

import pytest

from tests.api.client import Api, Tenant

METHODS = ("get", "post", "put", "patch", "delete")


async def spec(api: Api) -> dict[str, Any]:
    response = await api.request("GET", "/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in METHODS]


def concrete(path: str, record_ids: dict[str, str]) -> str:
    for name, value in {"{record_id}": record_ids.get("record", str(uuid.uuid4())),
                        "{tenant_id}": record_ids.get("tenant", str(uuid.uuid4())),
                        "{key_id}": str(uuid.uuid4()), "{name}": "openapi-user"}.items():
        path = path.replace(name, value)
    return path


def credentials(api: Api, tenant: Tenant, op: dict[str, Any]) -> dict[str, str]:
    schemes = {name for requirement in op.get("security", []) for name in requirement}
    if "AdminToken" in schemes:
        return api.admin
    if "ApiKey" in schemes:
        return tenant.auth
    return {}


async def test_every_error_response_is_problem_json(api: Api) -> None:
    for path, method, op in operations(await spec(api)):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response.get("content", {})) == ["application/problem+json"], \
                    f"{method.upper()} {path} {status}"


@pytest.mark.parametrize("variant", ["as documented", "without credentials", "empty body",
                                     "wrong media type", "someone else's id",
                                     "a read-only key"])
async def test_every_answer_is_documented(api: Api, tenant: Tenant, variant: str) -> None:
    other = await api.new_tenant("openapi")
    foreign = (await api.request("POST", "/v1/books", other,
                                 json={"name": "n", "author": "a", "release_year": 1})).json()
    if variant == "a read-only key":
        reader = await api.request("POST", "/v1/api-keys", tenant, json={"scopes": ["read"]})
        tenant = Tenant(tenant.id, tenant.slug, reader.json()["key"], reader.json()["id"])
    undocumented = []
    for path, method, op in operations(await spec(api)):
        ids = {"record": foreign["id"], "tenant": other.id} if variant == "someone else's id" \
            else {}
        headers = {} if variant == "without credentials" else credentials(api, tenant, op)
        kwargs: dict[str, Any] = {}
        if "requestBody" in op:
            if variant == "wrong media type":
                kwargs = {"content": b"name=x", "headers": {"content-type": "text/plain"}}
            else:
                kwargs = {"json": {}}
        extra = kwargs.pop("headers", {})
        response = await api.request(method.upper(), concrete(path, ids),
                                     headers={**headers, **extra}, **kwargs)
        if str(response.status_code) not in op["responses"]:
            undocumented.append(f"{method.upper()} {path} -> {response.status_code}")
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
    assert undocumented == []
