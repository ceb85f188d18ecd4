"""A throwaway PostgreSQL for tests and benchmarks: private, loopback-only, built for speed.

`throwaway_postgres()` yields a running server. With TEST_DATABASE_URL set, that is the
server it names (we must be allowed to CREATE DATABASE there); otherwise a private
`postgres` started from pgserver's binaries (or the system's) in a temporary directory,
listening on 127.0.0.1 on a free port and on a unix socket in that directory. The private
server can be halted and started again on the same data and port, to test outages.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import glob
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

T = TypeVar("T")

SYSTEM_USER = "catalogpg"  # initdb and postgres refuse to run as root
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
FAST_SETTINGS = {
    "listen_addresses": "127.0.0.1", "fsync": "off", "full_page_writes": "off",
    "synchronous_commit": "off", "max_connections": "300", "jit": "off", "timezone": "UTC",
}
_TEMP_PREFIX = "catalog-pg-"
_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a fresh event loop in a worker thread; safe inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _execute(dsn: str, statements: tuple[str, ...]) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


class _Server:
    """What both kinds of server offer: URLs, and databases made and dropped on demand."""

    host: str
    port: int
    supports_restart = False

    def url(self, database: str | None = None, user: str | None = None) -> str:
        raise NotImplementedError

    def async_url(self, database: str | None = None, user: str | None = None) -> str:
        return self.url(database, user).replace("postgresql://", "postgresql+asyncpg://", 1)

    async def execute_async(self, *statements: str, database: str | None = None) -> None:
        """Run SQL statements one by one, outside any transaction block."""
        await _execute(self.url(database), statements)

    async def create_database_async(self, name: str, template: str | None = None) -> str:
        """Create database `name` (optionally a copy of `template`); return its sync URL."""
        suffix = f" TEMPLATE {quote_ident(template)}" if template else ""
        await self.execute_async(f"CREATE DATABASE {quote_ident(name)}{suffix}")
        return self.url(name)

    async def drop_database_async(self, name: str) -> None:
        """Drop database `name` if it exists, disconnecting whoever is still connected."""
        await self.execute_async(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    def execute(self, *statements: str, database: str | None = None) -> None:
        blocking(self.execute_async(*statements, database=database))

    def create_database(self, name: str, template: str | None = None) -> str:
        return blocking(self.create_database_async(name, template))

    def drop_database(self, name: str) -> None:
        blocking(self.drop_database_async(name))

    def halt(self, mode: str = "fast") -> None:
        raise NotImplementedError("only a private server can be halted: throwaway_postgres("
                                  "private=True)")

    def start(self) -> None:
        raise NotImplementedError("only a private server can be started again")

    def restart(self, mode: str = "fast") -> None:
        """Stop the server and start it again on the same data directory and port."""
        self.halt(mode)
        self.start()


class ExternalPostgres(_Server):
    """A server named by a URL (TEST_DATABASE_URL); stop() drops the databases we made."""

    pid = None

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"not a PostgreSQL URL: {parsed!r}")
        self._url = parsed.set(drivername="postgresql")
        self.host = parsed.host or "localhost"
        self.port = parsed.port or 5432
        self._created: set[str] = set()

    def url(self, database: str | None = None, user: str | None = None) -> str:
        url = self._url if database is None else self._url.set(database=database)
        url = url if user is None else url.set(username=user)
        return url.render_as_string(hide_password=False)

    async def create_database_async(self, name: str, template: str | None = None) -> str:
        url = await super().create_database_async(name, template)
        self._created.add(name)
        return url

    async def drop_database_async(self, name: str) -> None:
        await super().drop_database_async(name)
        self._created.discard(name)

    def stop(self) -> None:
        for name in sorted(self._created):
            self.drop_database(name)


class PostgresServer(_Server):
    """A private PostgreSQL server in a temporary directory; initialised and started at once."""

    supports_restart = True

    def __init__(self, bindir: Path | None = None, settings: Mapping[str, str] | None = None,
                 ) -> None:
        _reap_orphans()
        self.bindir = bindir or find_bindir()
        self.host = "127.0.0.1"
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX))
        (self.root / "owner").write_text(str(os.getpid()))
        self.data_dir, self.socket_dir = self.root / "data", self.root / "socket"
        self.log_path = self.root / "postgres.log"
        self._settings = {**FAST_SETTINGS, **(settings or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self._user = _system_user()
        atexit.register(self.stop)
        try:
            self._prepare()
            self._run("initdb", "-D", str(self.data_dir), "--auth=trust", "-U", "postgres",
                      "--encoding=UTF8", "--locale=C", "--no-sync")
            self._start_on_a_free_port()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, database: str | None = None, user: str | None = None) -> str:
        return f"postgresql://{user or 'postgres'}@{self.host}:{self.port}/{database or 'postgres'}"

    def start(self) -> None:
        """Start postgres on this server's data directory and port (after halt())."""
        if self.running:
            return
        options = [f"-c{name}={value}" for name, value in self._settings.items()]
        command = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                   "-k", str(self.socket_dir), *options]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **self._subprocess_options())
        self._wait_until_ready()

    def halt(self, mode: str = "fast") -> None:
        """Stop postgres by its PID, keeping its data: smart, fast or immediate (a crash)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(_SIGNALS[mode])
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self) -> None:
        """Stop postgres and delete its directory; safe to call twice."""
        atexit.unregister(self.stop)
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _start_on_a_free_port(self) -> None:
        for _ in range(5):
            self.port = _free_port()
            try:
                self.start()
                return
            except RuntimeError:
                if "already in use" not in self.log_tail():
                    raise
        raise RuntimeError("no free port for postgres after 5 tries")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pid_file = self.data_dir / "postmaster.pid"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"postgres exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if len(lines) >= 8 and lines[0] == str(self._process.pid) \
                        and lines[7].strip() == "ready" and _accepts(self.host, self.port):
                    return
            time.sleep(0.02)
        self.halt("immediate")
        raise RuntimeError(f"postgres not ready after {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def _prepare(self) -> None:
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(mode=0o700)
        if self._user is None:
            return
        import pwd

        entry = pwd.getpwnam(self._user)
        for path in (self.root, self.data_dir, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        _ensure_traversable(self.root.parent)
        _ensure_readable(self.bindir.parent)

    def _subprocess_options(self) -> dict[str, Any]:
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        for name in ("PGDATA", "PGPORT", "PGHOST", "PGOPTIONS"):
            env.pop(name, None)
        options: dict[str, Any] = {"cwd": self.root, "env": env}
        if self._user is not None:
            import pwd

            entry = pwd.getpwnam(self._user)
            options |= {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        return options

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run([str(self.bindir / program), *args], capture_output=True,
                                text=True, timeout=120, **self._subprocess_options())
        if result.returncode:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}")


@contextlib.contextmanager
def throwaway_postgres(*, private: bool = False,
                       settings: Mapping[str, str] | None = None,
                       ) -> Iterator[PostgresServer | ExternalPostgres]:
    """A running server for the duration of the block: TEST_DATABASE_URL's, or a private one.

    `private=True` always starts a private server (needed to halt or restart it)."""
    external = os.environ.get("TEST_DATABASE_URL")
    server: PostgresServer | ExternalPostgres
    server = ExternalPostgres(external) if external and not private else PostgresServer(
        settings=settings)
    try:
        yield server
    finally:
        server.stop()


def find_bindir() -> Path:
    """PostgreSQL's bin directory: TEST_POSTGRES_BINDIR, pgserver's, pg_config's, Debian's."""
    candidates: list[Path] = []
    if configured := os.environ.get("TEST_POSTGRES_BINDIR"):
        candidates.append(Path(configured))
    spec = importlib.util.find_spec("pgserver")  # locate without importing it (it starts things)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "pginstall" / "bin")
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            output = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                    timeout=10).stdout.strip()
            candidates.append(Path(output))
    versions = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    candidates += sorted((Path(p) for p in versions), key=_version_key, reverse=True)
    for candidate in candidates:
        if all(os.access(candidate / name, os.X_OK) for name in ("initdb", "postgres")):
            return candidate
    raise RuntimeError("no PostgreSQL binaries: `pip install pgserver`, install PostgreSQL, "
                       "or set TEST_DATABASE_URL")


def _version_key(path: Path) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in str(path)).split()
    return tuple(int(d) for d in digits)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _system_user() -> str | None:
    """None when not root; else an unprivileged user to own and run the server, made if new."""
    if os.geteuid() != 0:
        return None
    import pwd

    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SYSTEM_USER).pw_name
    result = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                             "/usr/sbin/nologin", SYSTEM_USER], capture_output=True, text=True)
    try:  # another process may have created it meanwhile
        return pwd.getpwnam(SYSTEM_USER).pw_name
    except KeyError:
        raise RuntimeError(f"cannot create user {SYSTEM_USER}: {result.stderr}") from None


def _ensure_traversable(path: Path) -> None:
    """Let other users traverse every directory from / down to `path` (o+x)."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def _ensure_readable(root: Path) -> None:
    """Let other users read (and run) everything under `root`, e.g. pgserver's install."""
    _ensure_traversable(root)
    for directory, _, files in os.walk(root):
        for path in (Path(directory), *(Path(directory) / name for name in files)):
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            wanted = mode | stat.S_IROTH
            if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
                wanted |= stat.S_IXOTH
            if wanted != mode:
                path.chmod(wanted)


def _reap_orphans() -> None:
    """Stop and delete private servers left behind by test processes that died."""
    for root in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*"):
        try:
            owner = int((root / "owner").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((root / "data" / "postmaster.pid").read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(root / "data").encode() in cmdline:
                os.kill(pid, signal.SIGQUIT)
                for _ in range(100):
                    if not _alive(pid):
                        break
                    time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    with contextlib.suppress(OSError, IndexError):  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True
