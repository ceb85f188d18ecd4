"""What only a Citus cluster shows: where a tenant's rows live, and moving a busy tenant to a
shard of its own while a real `catalog serve` takes its writes.

The API, contract, isolation, row-level security and concurrency suites run on the same
cluster through their `citus` parameter; these are the tests with no PostgreSQL twin."""

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from adapters.clock import SystemClock
from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.transactions import Backend, Transactions, TransactionScope
from adapters.sqlalchemy.unit_of_work import SqlaOperatorUnitOfWork, SqlaUnitOfWork
from domain.model import BOOKS, CITIES, Book, City, Tenant, User
from tests.ops.harness import Load, Service, missing_cities, new_tenant, plain_url, service_env
from tests.support.citus import CitusCluster
from tests.support.databases import owner_url_of

CO_LOCATED = ("books", "cities", "users", "api_keys", "idempotency_keys")
PLACEMENT = """
    SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
    WHERE p.shardid = get_shard_id_for_distribution_column($1, $2::uuid)"""


async def test_one_tenants_rows_sit_on_one_worker(citus_cluster: CitusCluster,
                                                  citus_url: str) -> None:
    engine = create_engine(citus_url, pool_size=2)
    transactions = Transactions(engine, TransactionScope())
    now = SystemClock().now()
    tenants = [Tenant.create(f"placed-{n}-{time.monotonic_ns()}", "Placed", now) for n in range(6)]
    try:
        for tenant in tenants:
            async with SqlaOperatorUnitOfWork(transactions) as operator:
                await operator.tenants.add(tenant)
                await operator.commit()
            async with SqlaUnitOfWork(transactions, tenant.id) as uow:
                await uow.records(CITIES).add(City.create(tenant.id, now, name="c",
                                                          population=1))
                await uow.records(BOOKS).add(Book.create(tenant.id, now, name="b", author="a",
                                                         release_year=2000))
                await uow.users.add(User.create(tenant.id, now, name="u", full_name="U"))
                await uow.commit()
        assert transactions.scope.backend == Backend.AUTO
        assert await transactions.scope.resolve(None) == Backend.CITUS
    finally:
        await engine.dispose()
    worker_ports = {worker.port for worker in citus_cluster.workers}
    owner = await asyncpg.connect(plain_url(owner_url_of(citus_cluster, citus_url)))
    try:
        used = set()
        for tenant in tenants:
            ports = {row["nodeport"] for table in CO_LOCATED
                     for row in await owner.fetch(PLACEMENT, table, str(tenant.id))}
            assert len(ports) == 1 and ports <= worker_ports, (tenant.id, ports)
            used |= ports
            # and the rows really are there, in that worker's shards of the three tables
            worker = next(w for w in citus_cluster.workers if w.port in ports)
            shards = {table: await owner.fetchval(
                "SELECT get_shard_id_for_distribution_column($1, $2::uuid)", table,
                str(tenant.id)) for table in ("books", "cities", "users")}
            database = owner_url_of(citus_cluster, citus_url).rsplit("/", 1)[1]
            direct = await asyncpg.connect(worker.url(database))
            try:
                for table, shard in shards.items():
                    count = await direct.fetchval(
                        f"SELECT count(*) FROM {table}_{shard} WHERE tenant_id = $1", tenant.id)
                    assert count == 1, (table, shard)
            finally:
                await direct.close()
        assert used <= worker_ports  # (which worker each lands on is the hash's business)
        settings = await owner.fetchval(
            "SELECT setconfig FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())")
        assert "citus.propagate_set_commands=local" in settings  # migration 0003's
    finally:
        await owner.close()


async def isolated_shard(owner: asyncpg.Connection, tenant_id: str) -> bool:
    """Whether the tenant's cities shard holds exactly its hash value and nothing else."""
    row = await owner.fetchrow(
        "SELECT shardminvalue, shardmaxvalue FROM pg_dist_shard WHERE shardid = "
        "get_shard_id_for_distribution_column('cities', $1::uuid)", tenant_id)
    return bool(row["shardminvalue"] == row["shardmaxvalue"])


async def test_isolating_a_tenant_under_write_load_loses_nothing(
        citus_cluster: CitusCluster, citus_url: str, tmp_path: Path) -> None:
    owner_url = owner_url_of(citus_cluster, citus_url)
    env = service_env(citus_url, owner_url, database_backend="citus", pool_size=8)
    with Service(env, tmp_path) as service:
        await service.wait_for("/readyz", timeout=60)
        tenant = await new_tenant(service.base, "isolated")
        owner = await asyncpg.connect(plain_url(owner_url))
        try:
            assert not await isolated_shard(owner, tenant.id)
            async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth,
                                         timeout=30) as client:
                async with Load(client, loops=4, seconds=60, max_per_loop=120) as load:
                    deadline = time.monotonic() + 30
                    while len(load.created()) < 20 and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    during = len(load.outcomes)
                    await owner.execute(
                        "SELECT isolate_tenant_to_new_shard('cities', $1::uuid, 'CASCADE', "
                        "shard_transfer_mode => 'block_writes')", tenant.id)
                    isolated_after = len(load.outcomes)
            assert await isolated_shard(owner, tenant.id)
        finally:
            await owner.close()
    failed = [str(o) for o in load.outcomes if not o.ok]
    created = load.created()
    print(f"isolation under load: {len(load.outcomes)} requests ({during} before the split, "
          f"{isolated_after - during} during it), {len(failed)} failed, "
          f"{len(created)} acknowledged writes checked")
    assert not failed, failed[:5]
    assert len(load.outcomes) > isolated_after, "the load went on after the split"
    assert created and not await missing_cities(owner_url, tenant.id, created)


@pytest.mark.parametrize("tenant_set", [True, False])
async def test_set_local_reaches_the_workers_only_as_a_message_of_its_own(
        citus_url: str, tenant_set: bool) -> None:
    """The strategy's reason, checked at the driver: BEGIN, then SET LOCAL alone, then an
    unscoped SELECT sees the tenant's rows only (none with no tenant set)."""
    engine = create_engine(citus_url, pool_size=1)
    transactions = Transactions(engine, TransactionScope(backend=Backend.CITUS))
    now = SystemClock().now()
    tenant = Tenant.create(f"local-{time.monotonic_ns()}", "Local", now)
    try:
        async with SqlaOperatorUnitOfWork(transactions) as operator:
            await operator.tenants.add(tenant)
            await operator.commit()
        async with SqlaUnitOfWork(transactions, tenant.id) as uow:
            for name in ("x", "y"):
                await uow.records(CITIES).add(City.create(tenant.id, now, name=name,
                                                          population=1))
            await uow.commit()
        connection = await asyncpg.connect(plain_url(citus_url))
        try:
            await connection.execute("BEGIN")
            await connection.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            if tenant_set:
                await connection.execute(f"SET LOCAL app.tenant_id = '{tenant.id}'")
            rows = await connection.fetch("SELECT DISTINCT tenant_id FROM cities")
            await connection.execute("COMMIT")
        finally:
            await connection.close()
        assert [row["tenant_id"] for row in rows] == ([tenant.id] if tenant_set else [])
    finally:
        await engine.dispose()
