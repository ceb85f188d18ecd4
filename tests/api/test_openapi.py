"""The OpenAPI document matches what the service does: every answer an operation gives is
one it documents, and every documented error is problem+json."""

import re
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


SENT_HEADERS = ("ETag", "Location", "Retry-After", "Idempotent-Replayed", "WWW-Authenticate",
                "RateLimit-Policy", "RateLimit")


def undeclared_headers(operation: str, response: Any, documented: dict[str, Any]) -> list[str]:
    declared = {name.lower() for name in documented.get("headers", {})}
    return [f"{operation} -> {response.status_code} sends {name} undeclared"
            for name in SENT_HEADERS if name.lower() in response.headers
            and name.lower() not in declared]


async def test_operation_ids_are_stable_and_readable(api: Api) -> None:
    ids = [op["operationId"] for _, _, op in operations(await spec(api))]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][a-z-]*\.[a-z][a-z_]*", operation_id), operation_id
    assert {"books.create", "books.list", "books.get", "books.update", "books.replace",
            "books.delete", "cities.biggest", "users.get_by_name", "users.get_or_create_by_name",
            "tenants.create", "me.get", "service.healthz"} <= set(ids)
    schemas = (await spec(api))["components"]["schemas"]
    assert all(re.fullmatch(r"[A-Z][A-Za-z]{1,30}", name) for name in schemas), list(schemas)


async def test_get_or_create_by_name_documents_an_optional_body(api: Api) -> None:
    operation = (await spec(api))["paths"]["/v1/users/by-name/{name}"]["post"]
    assert operation["requestBody"].get("required", False) is False
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserDefaults"}


async def test_headers_of_replays_and_retries_are_declared(api: Api, tenant: Tenant) -> None:
    document = await spec(api)
    create = document["paths"]["/v1/books"]["post"]
    key = {"Idempotency-Key": f"declared-{tenant.id}"}
    answers = [await api.request("POST", "/v1/books", tenant, headers=key,
                                 json={"name": "n", "author": "a", "release_year": year})
               for year in (1, 1, 2)]
    assert answers[1].headers["idempotent-replayed"] == "true"
    problems = [problem for answer in answers for problem in undeclared_headers(
        "POST /v1/books", answer, create["responses"][str(answer.status_code)])]
    assert problems == []
    assert "Retry-After" in create["responses"]["409"]["headers"]
    assert "Retry-After" in create["responses"]["503"]["headers"]


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
        documented = op["responses"].get(str(response.status_code))
        if documented is None:
            undocumented.append(f"{method.upper()} {path} -> {response.status_code}")
        else:
            undocumented += undeclared_headers(f"{method.upper()} {path}", response, documented)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
    assert undocumented == []
