"""A wrong setting, or a database the settings point at that cannot be used, stops `serve`,
every command and `./run serve` with one line naming the setting, and exit status 2."""

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_server import CATALOG

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [["serve"], ["config"], ["db", "upgrade"], ["db", "current"], ["db", "sync"],
            ["db", "downgrade", "base"], ["tenants", "create", "acme"], ["tenants", "list"],
            ["tenants", "delete", "acme"]]


def run(args: list[str], cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CATALOG_")}
    return subprocess.run(args, cwd=cwd, env={**env, **settings}, capture_output=True,
                          text=True, timeout=60)


def assert_one_line(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(name in lines[0] for name in names), lines[0]
    return lines[0]


@pytest.mark.parametrize("turn,url,says", [
    (0, "not-a-url", "must be a URL"),
    (1, "mysql://user@host/db", "synchronous driver mysql"),
    (2, "sqlite:////nonexistent/dir/x.db", "/nonexistent/dir"),
])
def test_a_bad_database_url_is_one_line_from_every_command(tmp_path: Path, turn: int, url: str,
                                                           says: str) -> None:
    for command in [["serve"], *COMMANDS[1 + turn::3]]:  # serve, and a third of the others
        assert_one_line(run([CATALOG, *command], tmp_path, CATALOG_DATABASE_URL=url),
                        "CATALOG_DATABASE_URL", says)
    assert not list(tmp_path.iterdir())  # and nothing was made


def test_other_settings_are_named_too(tmp_path: Path) -> None:
    line = assert_one_line(run([CATALOG, "serve"], tmp_path, CATALOG_PORT="http",
                               CATALOG_LOG_FORMAT="xml"), "CATALOG_PORT", "CATALOG_LOG_FORMAT")
    assert "integer" in line
    assert_one_line(run([CATALOG, "db", "current"], tmp_path,
                        CATALOG_MIGRATION_DATABASE_URL="oracle://x"),
                    "CATALOG_MIGRATION_DATABASE_URL")


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://nobody@127.0.0.1:{port}/catalog"
    assert_one_line(run([CATALOG, "db", "upgrade"], tmp_path, CATALOG_DATABASE_URL=url),
                    "CATALOG_DATABASE_URL", "cannot use the database")
    assert_one_line(run([CATALOG, "tenants", "list"], tmp_path, CATALOG_DATABASE_URL=url),
                    "CATALOG_DATABASE_URL")


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        line = assert_one_line(run([CATALOG, "serve"], tmp_path, CATALOG_PORT=port),
                               "CATALOG_PORT", "already in use")
        assert line.endswith("or choose another port")
        assert_one_line(run([CATALOG, "serve", "--port", port], tmp_path), "--port")


def test_run_serve_passes_it_on(tmp_path: Path) -> None:
    assert_one_line(run([str(ROOT / "run"), "serve"], tmp_path,
                        CATALOG_DATABASE_URL="not-a-url"), "CATALOG_DATABASE_URL")


def test_help_shows_metavars_and_defaults_and_no_completion(tmp_path: Path) -> None:
    top = run([CATALOG, "--help"], tmp_path).stdout
    assert "completion" not in top
    serve = run([CATALOG, "serve", "--help"], tmp_path).stdout
    for shown in ("--host HOST", "--port PORT", "--workers N", "127.0.0.1", "8000"):
        assert shown in serve, serve
    create = run([CATALOG, "tenants", "create", "--help"], tmp_path).stdout
    assert "SLUG" in create and "--name NAME" in create
    assert "<str>" not in serve + create and "<int>" not in serve and "<bool>" not in top
