"""A client generated from the running service's /openapi.json (openapi-python-client, with
no warning) drives every operation: tenant, key, records, If-Match, Idempotency-Key, headers."""

import importlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.e2e.test_server import CATALOG, free_port, wait_until_up

GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))
ADMIN = "generated-client-admin"
PACKAGE = "catalog_client"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `catalog serve` on a SQLite file of its own."""
    home = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {**os.environ, "CATALOG_DATABASE_URL": f"sqlite:///{home / 'catalog.db'}",
           "CATALOG_ADMIN_TOKEN": ADMIN, "CATALOG_PORT": str(port),
           "CATALOG_LOG_LEVEL": "warning"}
    process = subprocess.Popen([CATALOG, "serve"], env=env, cwd=home)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def generated(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated from the served document; any warning fails the test."""
    where = tmp_path_factory.mktemp("client")
    (where / "openapi.json").write_bytes(httpx.get(f"{base_url}/openapi.json").content)
    (where / "config.yaml").write_text("post_hooks: []\n")
    result = subprocess.run(
        [GENERATOR, "generate", "--path", "openapi.json", "--meta", "none", "--config",
         "config.yaml", "--output-path", PACKAGE], cwd=where, capture_output=True, text=True,
        timeout=120)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "warning" not in said.lower() and "error" not in said.lower(), said
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


class Calls:
    """Each operation by its operationId (`books.create` is api/<tag>/books_create.py)."""

    def __init__(self, package: ModuleType, document: dict[str, Any]) -> None:
        self.modules: dict[str, ModuleType] = {}
        self.called: set[str] = set()
        for item in document["paths"].values():
            for operation in item.values():
                tag = re.sub(r"[^a-z0-9]+", "_", operation["tags"][0].lower())  # as generated
                module = operation["operationId"].replace(".", "_").replace("-", "_")
                self.modules[operation["operationId"]] = importlib.import_module(
                    f"{PACKAGE}.api.{tag}.{module}")

    def __call__(self, operation_id: str, *args: Any, **kwargs: Any) -> Any:
        self.called.add(operation_id)
        return self.modules[operation_id].sync_detailed(*args, **kwargs)


def test_a_generated_client_drives_every_operation(base_url: str, generated: ModuleType) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    document = httpx.get(f"{base_url}/openapi.json").json()
    call = Calls(generated, document)
    anyone = generated.Client(base_url=base_url)
    operator = generated.AuthenticatedClient(base_url=base_url, token=ADMIN)

    assert call("service.healthz", client=anyone).parsed.status == "ok"
    assert call("service.readyz", client=anyone).parsed.status == "ready"

    slug, key = f"gen-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    made = call("tenants.create", client=operator, body=models.TenantIn(slug=slug, name="Gen"),
                idempotency_key=key)
    assert made.status_code == 201 and made.parsed.tenant.slug == slug
    assert made.headers["Location"] == f"/v1/tenants/{made.parsed.tenant.id}"
    again = call("tenants.create", client=operator, body=models.TenantIn(slug=slug, name="Gen"),
                 idempotency_key=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.api_key.key == made.parsed.api_key.key  # the first answer, not a new one
    tenant_id = made.parsed.tenant.id
    assert call("tenants.get", tenant_id, client=operator).parsed.slug == slug
    assert slug in [t.slug for t in call("tenants.list", client=operator, limit=100).parsed.items]
    patched = call("tenants.update", tenant_id, client=operator, body=models.TenantPatch(
        name="Gen Two", rate_limit=models.RateLimitIn(rate=50.0, burst=60)))
    assert patched.status_code == 200 and patched.parsed.name == "Gen Two"
    assert (patched.parsed.rate_limit.rate, patched.parsed.rate_limit.burst) == (50.0, 60)
    second = call("tenants.issue_api_key", tenant_id, client=operator)
    assert second.status_code == 201
    tenant = generated.AuthenticatedClient(base_url=base_url, token=second.parsed.key)
    me = call("me.get", client=tenant)
    assert me.parsed.id == tenant_id
    assert me.headers["RateLimit-Policy"] == '"tenant";q=60;w=2'  # its own limit: 60 in 1.2 s
    reset = call("tenants.update", tenant_id, client=operator,
                 body=models.TenantPatch(rate_limit=None))
    assert reset.status_code == 200 and reset.parsed.rate_limit is None
    assert reset.parsed.name == "Gen Two"  # a field not sent is left as it was
    assert call("tenants.revoke_api_key", tenant_id, made.parsed.api_key.id,
                client=operator).status_code == 204
    assert made.parsed.api_key.id in [
        k.id for k in call("tenants.list_api_keys", tenant_id, client=operator).parsed.items]

    # The tenant's own keys: a read-only one, listed, read, rolled at once, then revoked.
    mine = call("api-keys.create", client=tenant, body=models.ApiKeyIn(
        name="dashboard", scopes=[models.ApiKeyInScopesItem("read")]))
    assert mine.status_code == 201 and mine.headers["Location"] == f"/v1/api-keys/{mine.parsed.id}"
    reader = generated.AuthenticatedClient(base_url=base_url, token=mine.parsed.key)
    assert call("me.get", client=reader).parsed.id == tenant_id
    listed = call("api-keys.list", client=tenant, limit=100).parsed.items
    assert mine.parsed.id in [k.id for k in listed]
    assert call("api-keys.get", mine.parsed.id, client=tenant).parsed.name == "dashboard"
    rolled = call("api-keys.roll", mine.parsed.id, client=tenant,
                  body=models.ApiKeyRoll(expires_in=0))
    assert rolled.status_code == 201 and rolled.parsed.name == "dashboard"
    assert call("me.get", client=reader).status_code == 401  # rolled with no overlap
    assert call("api-keys.revoke", rolled.parsed.id, client=tenant).status_code == 204

    # Books: create (idempotent), list by author and by pages, get, 304, If-Match, put, delete.
    key = str(uuid.uuid4())
    book = call("books.create", client=tenant, idempotency_key=key,
                body=models.BookIn(name="Dune", author="Frank Herbert", release_year=1965))
    assert book.status_code == 201 and book.headers["ETag"] == '"1"'
    assert book.headers["Location"] == f"/v1/books/{book.parsed.id}"
    replay = call("books.create", client=tenant, idempotency_key=key,
                  body=models.BookIn(name="Dune", author="Frank Herbert", release_year=1965))
    assert replay.parsed.id == book.parsed.id and replay.headers["Idempotent-Replayed"] == "true"
    misused = call("books.create", client=tenant, idempotency_key=key,
                   body=models.BookIn(name="Emma", author="Jane Austen", release_year=1815))
    assert misused.status_code == 422 and isinstance(misused.parsed, models.Problem)
    call("books.create", client=tenant,
         body=models.BookIn(name="Messiah", author="Frank Herbert", release_year=1969))
    first = call("books.list", client=tenant, author="Frank Herbert", limit=1).parsed
    rest = call("books.list", client=tenant, author="Frank Herbert", cursor=first.next_cursor)
    assert [b.name for b in first.items + rest.parsed.items] == ["Dune", "Messiah"]
    got = call("books.get", book.parsed.id, client=tenant)
    assert got.parsed.name == "Dune" and got.headers["ETag"] == '"1"'
    assert call("books.get", book.parsed.id, client=tenant,
                if_none_match=got.headers["ETag"]).status_code == 304
    changed = call("books.update", book.parsed.id, client=tenant, if_match='"1"',
                   body=models.BookPatch(release_year=1966))
    assert changed.parsed.release_year == 1966 and changed.headers["ETag"] == '"2"'
    stale = call("books.update", book.parsed.id, client=tenant, if_match='"1"',
                 body=models.BookPatch(release_year=1967))
    assert stale.status_code == 412 and stale.parsed.status == 412
    replaced = call("books.replace", book.parsed.id, client=tenant, if_match='"2"',
                    body=models.BookIn(name="Dune", author="F. Herbert", release_year=1965))
    assert replaced.parsed.author == "F. Herbert" and replaced.parsed.version == 3
    assert call("books.delete", book.parsed.id, client=tenant, if_match='"3"').status_code == 204
    assert call("books.get", book.parsed.id, client=tenant).status_code == 404

    # Cities, the biggest of them (a bare array), and 594.0 taken as the integer it is.
    lyon = call("cities.create", client=tenant, body=models.CityIn(name="Lyon",
                                                                 population=522250)).parsed
    call("cities.create", client=tenant, body=models.CityIn(name="Paris", population=2102650))
    taken = call("cities.create", client=tenant, body=models.CityIn(name="Lyon", population=1))
    assert taken.status_code == 409
    assert [c.name for c in call("cities.biggest", client=tenant, limit=2).parsed] == [
        "Paris", "Lyon"]
    assert {c.name for c in call("cities.list", client=tenant).parsed.items} == {"Lyon", "Paris"}
    assert call("cities.get", lyon.id, client=tenant).parsed.population == 522250
    assert call("cities.update", lyon.id, client=tenant, if_match='"1"',
                body=models.CityPatch(population=594.0)).parsed.population == 594
    assert call("cities.delete", lyon.id, client=tenant).status_code == 204

    # Users: by id, and by name (get, get-or-create with no body at all, update-or-create).
    ada = call("users.create", client=tenant, body=models.UserIn(name="ada")).parsed
    assert call("users.get", ada.id, client=tenant).parsed.name == "ada"
    assert [u.name for u in call("users.list", client=tenant).parsed.items] == ["ada"]
    assert call("users.update", ada.id, client=tenant,
                body=models.UserPatch(full_name="Ada Lovelace")).parsed.version == 2
    created = call("users.get_or_create_by_name", "grace", client=tenant)
    assert created.status_code == 201 and created.parsed.full_name == ""
    assert created.headers["Location"] == f"/v1/users/{created.parsed.id}"
    found = call("users.get_or_create_by_name", "grace", client=tenant,
                 body=models.UserDefaults(full_name="ignored"))
    assert found.status_code == 200 and found.parsed.id == created.parsed.id
    assert call("users.get_by_name", "grace", client=tenant).headers["ETag"] == '"1"'
    upserted = call("users.update_or_create_by_name", "grace", client=tenant,
                    body=models.UserFullName(full_name="Grace Hopper"))
    assert upserted.status_code == 200 and upserted.parsed.full_name == "Grace Hopper"
    bad = call("users.get_or_create_by_name", "grace\n", client=tenant)
    assert bad.status_code == 422  # a control character: not the user "grace"
    assert call("users.delete", ada.id, client=tenant).status_code == 204

    assert "catalog_http_requests_total" in call("service.metrics", client=anyone).content.decode()
    assert call("tenants.delete", tenant_id, client=operator).status_code == 204
    assert call("me.get", client=tenant).status_code == 401
    assert call.called == set(call.modules), "operations the flow never called"
