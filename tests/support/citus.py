"""A throwaway Citus cluster for tests and benchmarks: one coordinator and two workers.

Each node is a private PostgreSQL 15 (tests/support/postgres.py: initdb and postgres as an
unprivileged OS user, loopback only, a free port, stopped by PID) with Citus preloaded. Every
database made on the cluster is made on all three nodes, with the citus extension in each, and
the workers registered with the coordinator, so the migrations distribute its tables.

Citus comes from PostgreSQL 15's own library directory, where `./run test` installs it (built
from ../shared/citus once, cached under ~/.cache/tenant-catalog). Without it, `CitusMissing`
says so in one line and the Citus tests fail.
"""

from __future__ import annotations

import atexit
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .postgres import PostgresServer, _Server, quote_ident

PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
CITUS_SETTINGS = {
    "shared_preload_libraries": "citus",
    "citus.shard_count": "8",  # small shards: distributing in every test database stays quick
    "citus.node_conninfo": "sslmode=disable",  # loopback; and no client certificate lookup
    "max_connections": "400",
    "citus.max_client_connections": "350",
}


class CitusMissing(RuntimeError):
    """Citus (or PostgreSQL 15) is not installed where the tests look for it."""


def find_citus_bindir() -> Path:
    """PostgreSQL 15's bin directory, once Citus is in its library directory."""
    pg_config = PG_BINDIR / "pg_config"
    if not pg_config.exists():
        raise CitusMissing(f"citus: PostgreSQL 15 is not installed ({PG_BINDIR} is missing); "
                           "`./run test` installs it and builds Citus from ../shared/citus")
    libdir = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True,
                            timeout=10, check=True).stdout.strip()
    if not (Path(libdir) / "citus.so").exists():
        raise CitusMissing(f"citus: not installed in {libdir}; `./run test` builds it from "
                           "../shared/citus/citus-12.1.12.tar.gz")
    return PG_BINDIR


class CitusCluster(_Server):
    """A coordinator and two workers on loopback; URLs and databases are the coordinator's."""

    def __init__(self, workers: int = 2) -> None:
        bindir = find_citus_bindir()
        self.nodes: list[PostgresServer] = []
        atexit.register(self.stop)
        try:
            for _ in range(1 + workers):
                self.nodes.append(PostgresServer(bindir, settings=CITUS_SETTINGS))
        except BaseException:
            self.stop()
            raise
        self.coordinator, self.workers = self.nodes[0], self.nodes[1:]
        self.host, self.port = self.coordinator.host, self.coordinator.port

    @property
    def pids(self) -> list[int | None]:
        return [node.pid for node in self.nodes]

    def url(self, database: str | None = None, user: str | None = None) -> str:
        return self.coordinator.url(database, user)

    async def execute_async(self, *statements: str, database: str | None = None) -> None:
        """Run the statements on every node (roles and settings are per node)."""
        for node in self.nodes:
            await node.execute_async(*statements, database=database)

    async def create_database_async(self, name: str, template: str | None = None) -> str:
        assert template is None, "a Citus database cannot be copied from a template"
        for node in self.nodes:
            await node.create_database_async(name)
            await node.execute_async("CREATE EXTENSION citus", database=name)
        await self.coordinator.execute_async(
            f"SELECT citus_set_coordinator_host('127.0.0.1', {self.coordinator.port})",
            *(f"SELECT citus_add_node('127.0.0.1', {worker.port})" for worker in self.workers),
            database=name)
        return self.url(name)

    async def drop_database_async(self, name: str) -> None:
        for node in self.nodes:
            await node.execute_async(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    def stop(self) -> None:
        """Stop every node by its PID and delete its directory; safe to call twice."""
        atexit.unregister(self.stop)
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                node.stop()


@contextlib.contextmanager
def throwaway_citus() -> Iterator[CitusCluster]:
    cluster = CitusCluster()
    try:
        yield cluster
    finally:
        cluster.stop()
