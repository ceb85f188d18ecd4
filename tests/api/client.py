"""A client for the API tests: tenants made through the operator API, problem checks."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from entrypoints.settings import Settings

ADMIN_TOKEN = "test-admin-token"


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Tenant:
    id: str
    slug: str
    key: str
    key_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Api:
    """An httpx client on one app, with helpers to make tenants through the operator API."""

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def __init__(self, client: httpx.AsyncClient, app: FastAPI, dialect: str) -> None:
        self.client, self.app, self.dialect = client, app, dialect

    async def new_tenant(self, prefix: str = "t") -> Tenant:
        response = await self.client.post("/v1/tenants", json={"slug": unique_slug(prefix)},
                                          headers=self.admin)
        assert response.status_code == 201, response.text
        body = response.json()
        return Tenant(body["tenant"]["id"], body["tenant"]["slug"], body["api_key"]["key"],
                      body["api_key"]["id"])

    async def request(self, method: str, url: str, tenant: Tenant | None = None,
                      **kwargs: Any) -> httpx.Response:
        headers = {**(tenant.auth if tenant else {}), **kwargs.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kwargs)


def settings_for(url: str, **overrides: Any) -> Settings:
    return Settings(database_url=url, admin_token=ADMIN_TOKEN, **overrides)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"] and isinstance(body["detail"], str) and body["type"]
    return body
