"""A real PgBouncer in transaction pooling mode on loopback, in front of a test server.

Uses the system's `pgbouncer` (Debian package `pgbouncer`; `./run test` installs it). As root
it runs as the same unprivileged user as the throwaway PostgreSQL. Stopped by its PID."""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .postgres import _accepts, _free_port, _system_user

START_TIMEOUT = 15.0


def find_pgbouncer() -> str:
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(p).exists()), None)
    if found is None:
        raise RuntimeError("pgbouncer is not installed: `apt-get install pgbouncer` "
                           "(`./run test` does this when it can)")
    return found


class PgBouncer:
    """PgBouncer listening on 127.0.0.1:`port`, forwarding every database to `upstream`."""

    def __init__(self, upstream_host: str, upstream_port: int, users: tuple[str, ...],
                 pool_size: int = 20) -> None:
        self.host, self.port = "127.0.0.1", _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="catalog-pgbouncer-"))
        user = _system_user()
        (self.root / "users.txt").write_text("".join(f'"{name}" ""\n' for name in users))
        (self.root / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={upstream_host} port={upstream_port}

[pgbouncer]
listen_addr = {self.host}
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.root / "users.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
server_reset_query =
logfile = {self.root / "pgbouncer.log"}
""")
        options: dict[str, Any] = {}
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            for path in self.root.iterdir():
                os.chown(path, entry.pw_uid, entry.pw_gid)
            os.chmod(self.root, 0o755)
            options = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self._process = subprocess.Popen(
            [find_pgbouncer(), str(self.root / "pgbouncer.ini")], cwd=self.root,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True, **options)
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(self.host, self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "pgbouncer.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"pgbouncer did not start:\n{log}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self._process.pid

    def url_for(self, url: str) -> str:
        """`url` (a URL of the upstream server) rerouted through this PgBouncer."""
        from sqlalchemy.engine import make_url

        return make_url(url).set(host=self.host, port=self.port).render_as_string(
            hide_password=False)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # PgBouncer's fast shutdown
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_pgbouncer(upstream_host: str, upstream_port: int, users: tuple[str, ...],
                      **options: Any) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(upstream_host, upstream_port, users, **options)
    try:
        yield bouncer
    finally:
        bouncer.stop()
