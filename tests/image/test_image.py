"""The project's image, built from the Dockerfile with podman and run for real.

The container shares the host's network (`--network host`) and reaches the session's
throwaway PostgreSQL on 127.0.0.1; the service inside listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from adapters.sqlalchemy import migrate
from tests.conftest import new_pg_database, owner_url_of
from tests.deploy.test_deploy_files import hadolint
from tests.ops.harness import free_port, plain_url, row_locked, wait_until, waiting_on_locks
from tests.support import podman
from tests.support.postgres import blocking

MAX_IMAGE_BYTES = 300 * 1000 * 1000   # slim: no compilers, caches, tests, pip or documentation
SHUTDOWN_TIMEOUT = 20                  # CATALOG_SHUTDOWN_TIMEOUT_SECONDS in the container
DRAIN_SECONDS = 1.0
IN_FLIGHT = 4
ADMIN_TOKEN = "image-test-admin-token"


@dataclass
class Database:
    app: str     # the service's URL (role catalog_app)
    owner: str   # the schema owner's URL (migrations)


@pytest.fixture
def database(postgres_server: object) -> Database:
    url = blocking(new_pg_database(postgres_server, migrated=False))
    return Database(plain_url(url), plain_url(owner_url_of(postgres_server, url)))


def service_options(database: Database, port: int, **settings: object) -> tuple[str, ...]:
    env = {"CATALOG_DATABASE_URL": database.app, "CATALOG_MIGRATION_DATABASE_URL": database.owner,
           "CATALOG_HOST": "127.0.0.1", "CATALOG_PORT": str(port),
           "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN} | {
        f"CATALOG_{key.upper()}": str(value) for key, value in settings.items()}
    return ("--network", "host", *[f"--env={key}={value}" for key, value in env.items()])


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


def one_shot(image: str, database: Database, *args: str) -> str:
    result = podman.podman("run", "--rm", *service_options(database, 8000), image, *args,
                           timeout=120)
    return result.stdout


@pytest.fixture
def serving(app_image: str, database: Database) -> Iterator[tuple[str, str]]:
    """A migrated database and `serve` in a container: (container name, base URL)."""
    one_shot(app_image, database, "db", "upgrade")
    port = free_port()
    name = f"catalog-test-{uuid.uuid4().hex[:10]}"
    options = service_options(database, port, shutdown_drain_seconds=DRAIN_SECONDS,
                              shutdown_timeout_seconds=SHUTDOWN_TIMEOUT,
                              lock_timeout_ms=30_000)
    with podman.container(app_image, name=name, options=options):
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            state = podman.inspect(name)["State"]
            assert state["Running"], podman.logs(name)
            assert time.monotonic() < deadline, podman.logs(name)
            time.sleep(0.2)
        yield name, base


def in_container(image: str, code: str) -> dict:
    """Run a Python snippet in the image as its own user; it prints one JSON object."""
    result = podman.podman("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                           "-c", code)
    return json.loads(result.stdout)


def test_image_is_small_runs_as_an_unprivileged_user_and_cannot_change_itself(
        app_image: str) -> None:
    image = podman.inspect(app_image, "image")
    config = image["Config"]
    assert config["User"] in ("10001:10001", "10001"), config
    assert config["Entrypoint"] == ["catalog"] and config["Cmd"] == ["serve"], config
    healthcheck = image.get("Healthcheck") or {}
    assert "/healthz" in " ".join(healthcheck.get("Test", [])), "HEALTHCHECK lost in the build"
    found = in_container(app_image, """
import json, os, shutil, sys
writable = []
for top in ("/opt/venv", "/usr", "/etc", "/bin", "/sbin", "/lib"):
    for root, dirs, files in os.walk(top):
        for entry in [root] + [os.path.join(root, f) for f in files]:
            if not os.path.islink(entry) and os.access(entry, os.W_OK):
                writable.append(entry)
import importlib.util
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "writable": writable[:20],
    "compilers": [c for c in ("gcc", "cc", "g++", "make") if shutil.which(c)],
    "caches": [p for p in ("/root/.cache", "/app/.cache", "/build", "/var/lib/apt/lists/partial")
               if os.path.exists(p) and os.listdir(p)],
    "tests": importlib.util.find_spec("tests") is not None or os.path.exists("/app/tests"),
    "bench": importlib.util.find_spec("bench") is not None,
    "app_home_writable": os.access("/app", os.W_OK),
    "catalog": shutil.which("catalog"),
}))
""")
    assert found["uid"] == 10001 and found["gid"] == 10001, found
    assert found["writable"] == [], f"files the service's user may change: {found['writable']}"
    assert found["compilers"] == [] and found["caches"] == [], found
    assert not found["tests"] and not found["bench"], found
    assert found["app_home_writable"], "/app (the working directory) is the user's"
    assert found["catalog"] == "/opt/venv/bin/catalog", found
    size = podman.image_size(app_image)
    podman.FIGURES["application image size"] = f"{size / 1e6:.0f} MB ({size} bytes)"
    assert size < MAX_IMAGE_BYTES, f"the image is {size / 1e6:.0f} MB"


def test_the_cli_migrates_and_creates_a_tenant_against_postgresql(
        app_image: str, database: Database) -> None:
    assert one_shot(app_image, database, "db", "current").strip() == "none"
    one_shot(app_image, database, "db", "upgrade")
    assert one_shot(app_image, database, "db", "current").strip() == migrate.head_revision()
    slug = f"image-{uuid.uuid4().hex[:8]}"
    created = json.loads(one_shot(app_image, database, "tenants", "create", slug))
    assert created["tenant"]["slug"] == slug and created["api_key"]["key"], created
    listed = [json.loads(line) for line in
              one_shot(app_image, database, "tenants", "list").splitlines()]
    assert [tenant["slug"] for tenant in listed] == [slug]


def test_the_service_answers_through_the_container_and_its_healthcheck_follows_it(
        serving: tuple[str, str]) -> None:
    name, base = serving
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        created = client.post("/v1/tenants", json={"slug": f"image-{uuid.uuid4().hex[:8]}"},
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert created.status_code == 201, created.text
        auth = {"Authorization": f"Bearer {created.json()['api_key']['key']}"}
        city = client.post("/v1/cities", json={"name": "Containerville", "population": 42},
                           headers=auth)
        assert city.status_code == 201, city.text
        read = client.get(f"/v1/cities/{city.json()['id']}", headers=auth)
        assert read.status_code == 200 and read.json()["name"] == "Containerville", read.text

    healthy = podman.podman("healthcheck", "run", name, check=False)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    # Stop the service inside (SIGSTOP: the process is there but answers nothing): the
    # image's HEALTHCHECK fails, then passes again once it goes on.
    podman.podman("kill", "--signal", "SIGSTOP", name)
    try:
        unhealthy = podman.podman("healthcheck", "run", name, check=False, timeout=60)
    finally:
        podman.podman("kill", "--signal", "SIGCONT", name)
    assert unhealthy.returncode != 0 and "unhealthy" in unhealthy.stdout + unhealthy.stderr, (
        unhealthy.stdout + unhealthy.stderr)
    again = podman.podman("healthcheck", "run", name, check=False)
    assert again.returncode == 0, again.stdout + again.stderr


async def test_podman_stop_drains_finishes_requests_in_flight_and_exits_0(
        serving: tuple[str, str], database: Database) -> None:
    name, base = serving
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tenant = await client.post("/v1/tenants", json={"slug": f"stop-{uuid.uuid4().hex[:8]}"},
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        client.headers["Authorization"] = f"Bearer {tenant.json()['api_key']['key']}"
        city = await client.post("/v1/cities", json={"name": "Held", "population": 1})
        city_id = city.json()["id"]
        stopped: dict[str, object] = {}
        stopper = threading.Thread(target=lambda: stopped.update(
            result=podman.podman("stop", "--time", str(SHUTDOWN_TIMEOUT + 10), name,
                                 check=False, timeout=SHUTDOWN_TIMEOUT + 40),
            seconds=time.monotonic()))
        patches: list[asyncio.Task[httpx.Response]] = []
        try:
            async with row_locked(database.owner, "cities", city_id) as holder:
                patches += [asyncio.create_task(client.patch(f"/v1/cities/{city_id}",
                                                             json={"population": n}))
                            for n in range(2, IN_FLIGHT + 2)]

                async def all_waiting() -> bool:
                    return await waiting_on_locks(holder) == IN_FLIGHT

                await wait_until(all_waiting, 10, "every PATCH waiting on the lock")
                signalled = time.monotonic()
                stopper.start()   # podman stop: SIGTERM to the service, PID 1
                async with httpx.AsyncClient(base_url=base, timeout=5) as probe:
                    async def draining() -> bool:
                        try:
                            return (await probe.get("/readyz")).status_code == 503
                        except httpx.HTTPError:
                            return False
                    await wait_until(draining, 5, "/readyz 503 while draining")
                port = int(base.rsplit(":", 1)[1])
                await wait_until(lambda: refuses_connections(port), DRAIN_SECONDS + 10,
                                 "new connections refused after the drain")
                refused = time.monotonic()
                assert not any(p.done() for p in patches), "a request ended before the lock"
                state = podman.inspect(name)["State"]   # "stopping": SIGTERM sent, not gone
                assert state["Pid"] > 0 and state["Status"] != "exited", state
            released = time.monotonic()   # the lock is gone: the PATCHes go on
            answers = await asyncio.wait_for(asyncio.gather(*patches), 30)
        finally:
            for task in patches:
                task.cancel()
            await asyncio.gather(*patches, return_exceptions=True)
    stopper.join(SHUTDOWN_TIMEOUT + 45)
    assert [a.status_code for a in answers] == [200] * IN_FLIGHT, [a.text for a in answers]
    result = stopped["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    state = podman.inspect(name)["State"]
    assert not state["Running"] and state["ExitCode"] == 0, (state, podman.logs(name))
    log = podman.logs(name, 200)
    assert "Application shutdown complete" in log and "Traceback" not in log, log
    podman.FIGURES["podman stop"] = (
        f"/readyz 503 at once, new connections refused {refused - signalled:.2f} s after "
        f"SIGTERM (drain {DRAIN_SECONDS} s), {IN_FLIGHT} requests in flight held until "
        f"{released - signalled:.2f} s then all 200, exit 0 at {stopped['seconds'] - signalled:.2f} s "
        f"(shutdown timeout {SHUTDOWN_TIMEOUT} s)")


@pytest.mark.parametrize("recipe", sorted(p.parent.name for p in
                                          podman.RECIPES.glob("*/Containerfile")))
def test_the_base_and_stand_in_recipes_are_clean_under_hadolint(recipe: str) -> None:
    result = subprocess.run([hadolint(), "--no-color",
                             str(podman.RECIPES / recipe / "Containerfile")],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
