"""A real `catalog serve` process on a real PostgreSQL, driven over a socket, set up by the CLI."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_pg_database, owner_url_of
from tests.support.databases import APP_PASSWORD

CATALOG = str(Path(sys.executable).with_name("catalog"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([CATALOG, *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until_up(base: str, process: subprocess.Popen, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert process.poll() is None, "the server exited early"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up in time")


@pytest.fixture
async def env(postgres_server: object) -> dict[str, str]:
    url = await new_pg_database(postgres_server, migrated=False)  # the service's own role

    def sync(async_url: str) -> str:  # the spelling operators write; the service translates it
        return async_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    return {**os.environ, "CATALOG_DATABASE_URL": sync(url),
            "CATALOG_MIGRATION_DATABASE_URL": sync(owner_url_of(postgres_server, url)),
            "CATALOG_ADMIN_TOKEN": "e2e-admin", "CATALOG_LOG_LEVEL": "warning"}


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    cli(env, "db", "upgrade")
    port = free_port()
    process = subprocess.Popen([CATALOG, "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_config_masks_secrets(env: dict[str, str]) -> None:
    shown = json.loads(cli(env, "config"))
    assert shown["database_url"].startswith("postgresql+asyncpg://catalog_app:***@")
    assert shown["migration_database_url"].startswith("postgresql+asyncpg://")
    assert shown["admin_token"] == "***"
    assert APP_PASSWORD not in json.dumps(shown) and "e2e-admin" not in json.dumps(shown)


def test_cli_migrations_report_revisions(env: dict[str, str]) -> None:
    assert cli(env, "db", "current").strip() == "none"
    cli(env, "db", "sync")
    head = cli(env, "db", "current").strip()
    assert head and head != "none"
    cli(env, "db", "downgrade", "base")
    assert cli(env, "db", "current").strip() == "none"
    cli(env, "db", "upgrade")
    assert cli(env, "db", "current").strip() == head


def test_serve_with_cli_made_tenant(env: dict[str, str],
                                    server: tuple[str, subprocess.Popen]) -> None:
    base, process = server
    created = json.loads(cli(env, "tenants", "create", "acme-e2e", "--name", "Acme"))
    assert created["tenant"]["slug"] == "acme-e2e"
    auth = {"Authorization": f"Bearer {created['api_key']['key']}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        assert client.get("/v1/me").json()["slug"] == "acme-e2e"
        for name, population in [("Paris", 2_100_000), ("Lyon", 500_000), ("Nice", 340_000)]:
            assert client.post("/v1/cities", json={"name": name, "population": population}
                               ).status_code == 201
        biggest = client.get("/v1/cities/biggest", params={"limit": 2})
        assert [c["name"] for c in biggest.json()] == ["Paris", "Lyon"]
        book = client.post("/v1/books", json={"name": "n", "author": "a", "release_year": 1})
        assert client.get(book.headers["location"]).json() == book.json()
        user = client.put("/v1/users/by-name/ada", json={"full_name": "Ada"})
        assert user.status_code == 201
        assert client.get("/v1/unknown").headers["content-type"] == "application/problem+json"
    listed = [json.loads(line) for line in cli(env, "tenants", "list").splitlines()]
    assert "acme-e2e" in [t["slug"] for t in listed]
    with httpx.Client(base_url=base, timeout=10) as client:
        admin = {"Authorization": "Bearer e2e-admin"}
        assert client.get("/v1/tenants", headers=admin).status_code == 200
    cli(env, "tenants", "delete", "acme-e2e")
    with httpx.Client(base_url=base, timeout=10) as client:
        # another process deleted the tenant; this one may trust its cached key for <= 60 s,
        # but the tenant's data is gone either way
        listed_books = client.get("/v1/books", headers=auth)
        assert listed_books.status_code == 401 or listed_books.json()["items"] == []
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
