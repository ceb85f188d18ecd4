"""The README's `sh` blocks, run as written, in order, in a scratch copy of the repository:
`./run serve` in the background (stopped before the next one, as the README says), everything
else in one shell, so that the README cannot drift from what the service and the CLI do."""

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
SERVER_LINE = re.compile(r"^((?:[A-Z_]+=\S+ )*)\./run serve$")
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)

PRELUDE = r"""
curl() { command curl --fail-with-body --max-time 20 --show-error "$@"; echo; }
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid"; status=0; wait "$server_pid" || status=$?
    echo "server exited with status $status"; server_pid=
  fi
}
wait_up() {
  for _ in $(seq 600); do
    command curl -s -o /dev/null "http://127.0.0.1:$CATALOG_PORT/healthz" && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "the server exited early"; return 1; }
    sleep 0.1
  done
  echo "the server did not come up"; return 1
}
trap stop_server EXIT
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def script(port: int) -> str:
    """The blocks as one bash script; the only change is the port (8000 may be taken here)."""
    parts = [PRELUDE]
    for number, block in enumerate(blocks()):
        commands = [line for line in block.splitlines() if line and not line.startswith("#")]
        parts.append(f"echo '--- block {number}'")
        if len(commands) == 1 and SERVER_LINE.match(commands[0]):
            parts.append(f"stop_server\n{commands[0]} > server-{number}.log 2>&1 &\n"
                         "server_pid=$!\nwait_up")
        else:
            assert "./run serve" not in block, "a block that starts the service holds only that"
            parts.append(block.replace("localhost:8000", f"localhost:{port}"))
    parts.append("stop_server")
    return "\n".join(parts)


def installed_for_tests() -> bool:
    """`./run serve` must find the environment `./run test` made, not install one of its own."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()
                            + (ROOT / "constraints.txt").read_bytes()).hexdigest()[:16]
    return (VENV / f".installed-{digest}-test").is_file()


def test_the_readme_blocks_run_as_written(tmp_path: Path) -> None:
    assert installed_for_tests(), "run this test through ./run test (it reuses that .venv)"
    assert len(blocks()) >= 6, "the README lost its runnable blocks"
    for name in ("run", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(VENV)
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CATALOG_")}
    env.update(CATALOG_PORT=str(port), PYTHONUNBUFFERED="1")
    (tmp_path / "readme.sh").write_text(script(port))
    process = subprocess.Popen(["bash", "-euo", "pipefail", "readme.sh"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:  # the script and the server it started, by their group
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    logs = "\n".join(f"== {log.name}\n{log.read_text()}" for log in tmp_path.glob("server-*.log"))
    assert process.returncode == 0, f"{output}\n{logs}"
    assert output.count("server exited with status 0") == 2, output
    assert re.search(r"^idempotent-replayed: true", output, re.M | re.I), output
    assert re.search(r'^etag: "3"', output, re.M | re.I), output  # created, patched, replaced
    assert '"slug":"globex"' in output and "exit status 2" in output, output
