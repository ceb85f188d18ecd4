"""deploy/compose.yaml brought up for real with podman-compose, from locally built images.

PostgreSQL, PgBouncer and HAProxy are stand-ins built from Debian's packages (the recipe takes
their images from POSTGRES_IMAGE, PGBOUNCER_IMAGE and HAPROXY_IMAGE); the migration and the
two replicas run the project's image. podman 4 ignores `depends_on` conditions, so the stack
comes up in stages, as the README tells podman users: postgres (until its healthcheck
passes), pgbouncer, the one-shot migration (until it exited 0), then the replicas and HAProxy.
HAProxy is published on 127.0.0.1 only. Then: a tenant is created through HAProxy, each
replica writes and reads, one replica is stopped under bounded load with no failed request,
and `down` leaves no container, pod, network or volume of the project behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops.harness import Load, free_port, metric
from tests.support import podman

COMPOSE = podman.ROOT / "deploy" / "compose.yaml"
LOOPS = 8               # concurrent clients through HAProxy, each POSTing (with an
MAX_PER_LOOP = 400      # Idempotency-Key) and GETting, at most this many requests each,
LOAD_LIMIT = 40.0       # and for at most this long
STOP_AFTER = 1.5        # seconds into the load when app1 gets `podman stop`
AFTER_STOP = 1.5        # the load goes on this long on app2 alone
STOP_GRACE = 40         # compose's stop_grace_period for the replicas
STAGE_TIMEOUT = 120.0


def podman_compose() -> str:
    beside = Path(sys.executable).with_name("podman-compose")
    found = str(beside) if beside.is_file() else shutil.which("podman-compose")
    if found is None:
        pytest.fail("`podman-compose` is not installed: it is in the test extras")
    return found


class Stack:
    """One project of deploy/compose.yaml, driven by podman-compose."""

    def __init__(self, images: dict[str, str]) -> None:
        self.project = f"catalog-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.admin_token = secrets.token_hex(16)
        self.env = podman.environment(
            POSTGRES_PASSWORD=secrets.token_hex(16), CATALOG_APP_PASSWORD=secrets.token_hex(16),
            CATALOG_ADMIN_TOKEN=self.admin_token, CATALOG_HTTP_ADDR="127.0.0.1",
            CATALOG_HTTP_PORT=str(self.port), CATALOG_IMAGE_TAG=images["app"].rsplit(":", 1)[1],
            POSTGRES_IMAGE=images["postgres"], PGBOUNCER_IMAGE=images["pgbouncer"],
            HAPROXY_IMAGE=images["haproxy"])
        self.base = f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = STAGE_TIMEOUT) -> str:
        command = [podman_compose(), "--project-name", self.project, "--file", str(COMPOSE),
                   *args]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True,
                                timeout=timeout, check=False, cwd=COMPOSE.parent)
        assert result.returncode == 0, (f"{' '.join(args)} exited {result.returncode}:\n"
                                        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def up(self, *services: str) -> None:
        self.compose("up", "--detach", "--no-deps", "--no-build", *services)

    def containers(self) -> dict[str, str]:
        """service -> container name, for every container of the project (running or not)."""
        listed = json.loads(podman.podman(
            "ps", "--all", "--format", "json",
            "--filter", f"label=com.docker.compose.project={self.project}").stdout or "[]")
        return {entry["Labels"]["com.docker.compose.service"]: entry["Names"][0]
                for entry in listed}

    def container(self, service: str) -> str:
        return self.containers()[service]

    def leftovers(self) -> dict[str, list[str]]:
        """Whatever of the project still exists in podman."""
        label = f"label=io.podman.compose.project={self.project}"
        found = {
            "containers": podman.podman("ps", "--all", "--format", "{{.Names}}", "--filter",
                                        f"label=com.docker.compose.project={self.project}"),
            "pods": podman.podman("pod", "ps", "--format", "{{.Name}}", "--filter",
                                  f"name={self.project}"),
            "networks": podman.podman("network", "ls", "--format", "{{.Name}}", "--filter",
                                      f"name={self.project}"),
            "volumes": podman.podman("volume", "ls", "--format", "{{.Name}}", "--filter", label),
        }
        return {kind: result.stdout.split() for kind, result in found.items()
                if result.stdout.split()}

    def remove_leftovers(self) -> None:
        """After a failure: remove what is left, each thing by its own name."""
        left = self.leftovers()
        for name in left.get("containers", []):
            podman.podman("rm", "--force", "--time", "2", name, check=False, timeout=60)
        for name in left.get("pods", []):
            podman.podman("pod", "rm", "--force", name, check=False, timeout=60)
        for name in left.get("networks", []):
            podman.podman("network", "rm", "--force", name, check=False, timeout=60)
        for name in left.get("volumes", []):
            podman.podman("volume", "rm", "--force", name, check=False, timeout=60)

    def exec_python(self, service: str, code: str, timeout: float = 60) -> str:
        return podman.podman("exec", self.container(service), "python", "-c", code,
                             timeout=timeout).stdout

    def wait(self, what: str, predicate: object, timeout: float = STAGE_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"not reached in {timeout} s: {what}\n" + \
                "\n".join(f"--- {s}\n{podman.logs(n, 20)}" for s, n in self.containers().items())
            time.sleep(0.5)


@pytest.fixture
def stack(app_image: str, standins: dict[str, str]) -> Iterator[Stack]:
    running = Stack({"app": app_image, **standins})
    try:
        yield running
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            running.compose("down", "--volumes", "--timeout", "5", timeout=180)
        left = running.leftovers()
        running.remove_leftovers()
        assert left == {}, f"left behind by `down`: {left}"


def staged_bring_up(stack: Stack) -> None:
    started = time.monotonic()
    stack.up("postgres")
    stack.wait("postgres healthy", lambda: podman.podman(
        "healthcheck", "run", stack.container("postgres"), check=False).returncode == 0)
    stack.up("pgbouncer")
    stack.up("migrate")
    migrate = stack.container("migrate")
    exit_code = podman.podman("wait", migrate, timeout=STAGE_TIMEOUT).stdout.strip()
    assert exit_code == "0", podman.logs(migrate)
    stack.up("app1", "app2", "haproxy")
    # HAProxy sends traffic to a replica after 2 good /readyz checks 1 s apart: wait until
    # each replica has answered a third.
    stack.wait("both replicas in rotation", lambda: all(
        readyz_answered(stack, app) >= 3 for app in ("app1", "app2")))
    podman.FIGURES["compose staged bring-up"] = f"{time.monotonic() - started:.1f} s"


def readyz_answered(stack: Stack, service: str) -> float:
    """How many /readyz the replica answered 200 (HAProxy's checks), from its /metrics; 0
    while it does not listen yet."""
    result = podman.podman("exec", stack.container(service), "python", "-c", (
        "import urllib.request; print(urllib.request.urlopen("
        "'http://127.0.0.1:8000/metrics', timeout=5).read().decode())"), check=False)
    if result.returncode != 0:
        return 0.0
    return metric(result.stdout, "catalog_http_requests_total", route="/readyz",
                  status_class="2xx")


WRITE_AND_READ = """
import json, sys, urllib.request
key, name, other = sys.argv[1], sys.argv[2], sys.argv[3:]
def call(method, path, body=None):
    request = urllib.request.Request("http://127.0.0.1:8000" + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())
status, city = call("POST", "/v1/cities", {"name": name, "population": 7})
read_status, read = call("GET", "/v1/cities/" + city["id"])
others = [call("GET", "/v1/cities/" + ident)[1]["name"] for ident in other]
print(json.dumps({"status": status, "id": city["id"], "read_status": read_status,
                  "name": read["name"], "others": others}))
"""


def write_and_read(stack: Stack, service: str, key: str, name: str, *others: str) -> dict:
    command = ["exec", stack.container(service), "python", "-c", WRITE_AND_READ, key, name,
               *others]
    return json.loads(podman.podman(*command).stdout)


async def test_the_recipe_runs_and_loses_nothing_when_a_replica_stops(stack: Stack) -> None:
    await asyncio.to_thread(staged_bring_up, stack)

    async with httpx.AsyncClient(base_url=stack.base, timeout=20,
                                 limits=httpx.Limits(max_connections=LOOPS)) as client:
        assert (await client.get("/readyz")).status_code == 200
        created = await client.post("/v1/tenants", json={"slug": f"compose-{uuid.uuid4().hex[:8]}"},
                                    headers={"Authorization": f"Bearer {stack.admin_token}"})
        assert created.status_code == 201, created.text
        key = created.json()["api_key"]["key"]
        # the load and the read-back measure the replicas, not the tenant's rate limit
        unlimited = await client.patch(
            f"/v1/tenants/{created.json()['tenant']['id']}",
            json={"rate_limit": {"rate": 100_000, "burst": 100_000}},
            headers={"Authorization": f"Bearer {stack.admin_token}"})
        assert unlimited.status_code == 200, unlimited.text

        # A write and a read through each replica, and each reads the other's write.
        first = await asyncio.to_thread(write_and_read, stack, "app1", key, "First")
        second = await asyncio.to_thread(write_and_read, stack, "app2", key, "Second", first["id"])
        again = await asyncio.to_thread(write_and_read, stack, "app1", key, "Third", second["id"])
        for answer, name in ((first, "First"), (second, "Second"), (again, "Third")):
            assert (answer["status"], answer["read_status"], answer["name"]) == (201, 200, name)
        assert second["others"] == ["First"] and again["others"] == ["Second"]

        client.headers["Authorization"] = f"Bearer {key}"
        app1 = stack.container("app1")
        async with Load(client, LOOPS, LOAD_LIMIT, MAX_PER_LOOP) as load:
            await asyncio.sleep(STOP_AFTER)
            before = len(load.outcomes)
            signalled = time.monotonic()
            stopped = await asyncio.to_thread(
                podman.podman, "stop", "--time", str(STOP_GRACE), app1, check=False,
                timeout=STOP_GRACE + 30)
            stop_seconds = time.monotonic() - signalled
            at_stop = len(load.outcomes)
            await asyncio.sleep(AFTER_STOP)
            load.stop()
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        state = podman.inspect(app1)["State"]
        assert state["ExitCode"] == 0, (state, podman.logs(app1))

        failed = [str(o) for o in load.outcomes if not o.ok]
        haproxy_log = podman.logs(stack.container("haproxy"), None)
        assert failed == [], f"{len(failed)} of {len(load.outcomes)} failed: {failed[:10]}\n" \
                             f"{haproxy_log[-3000:]}"
        assert before > 0 and len(load.outcomes) > at_stop, "no load before or after the stop"
        taken_out = "Server replicas/app1 is DOWN, reason: Layer7 wrong status, code: 503"
        assert taken_out in haproxy_log, "HAProxy did not see the drain\n" + haproxy_log[-3000:]
        served_by_app1 = sum(" replicas/app1 " in line and "/v1/cities" in line
                             for line in haproxy_log.splitlines())
        assert served_by_app1 > 0, "app1 served nothing through HAProxy before it stopped"
        retried = len(re.findall(r"---- \d+/\d+/\d+/\d+/\+?[1-9]", haproxy_log))

        # Every acknowledged write is there, read back through HAProxy (app2 alone now).
        ids = load.created()
        assert len(ids) == len(set(ids)) > 0
        missing = []
        for chunk in range(0, len(ids), 20):
            answers = await asyncio.gather(*(client.get(f"/v1/cities/{ident}")
                                             for ident in ids[chunk:chunk + 20]))
            missing += [a.url.path for a in answers if a.status_code != 200]
        assert missing == []

    elapsed = max(o.ended for o in load.outcomes) - min(o.started for o in load.outcomes)
    podman.FIGURES["compose replica stop"] = (
        f"{len(load.outcomes)} requests ({len(ids)} writes) through HAProxy in {elapsed:.1f} s "
        f"with {LOOPS} clients, 0 failed ({served_by_app1} by app1); {before} before `podman stop` of app1, "
        f"{at_stop - before} while it drained and exited 0 ({stop_seconds:.2f} s), "
        f"{len(load.outcomes) - at_stop} after, on app2 alone; HAProxy retried {retried}")
