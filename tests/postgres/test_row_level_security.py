"""Row-level security as a second wall: even a deliberately unscoped query, run through the
service's own transaction module as the service's role, sees only its tenant's rows."""

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adapters.clock import SystemClock
from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.transactions import Transaction, Transactions, TransactionScope
from adapters.sqlalchemy.unit_of_work import SqlaOperatorUnitOfWork, SqlaUnitOfWork
from domain.model import CITIES, RESOURCES, City, Tenant
from domain.tenancy import TenantId
from tests.support.databases import APP_ROLE

# the service's own tenant tables, and one per declared resource
TENANT_TABLES = ("api_keys", "idempotency_keys", *(r.collection for r in RESOURCES))



@pytest.fixture(scope="module", params=["postgresql", "citus"])
def pg_url(request: pytest.FixtureRequest, pg_url: str) -> str:
    """This module runs on PostgreSQL and on the Citus cluster."""
    return pg_url if request.param == "postgresql" else str(request.getfixturevalue("citus_url"))

@pytest_asyncio.fixture(scope="module")
async def sessions(pg_url: str) -> AsyncIterator[Transactions]:
    engine = create_engine(pg_url, pool_size=2)
    yield Transactions(engine, TransactionScope())
    await engine.dispose()


async def make_tenant_with_cities(sessions: Transactions,
                                  *names: str) -> TenantId:
    now = SystemClock().now()
    tenant = Tenant.create(f"rls-{uuid4().hex[:10]}", "RLS", now)
    async with SqlaOperatorUnitOfWork(sessions) as operator:
        await operator.tenants.add(tenant)
        await operator.commit()
    async with SqlaUnitOfWork(sessions, tenant.id) as uow:
        for name in names:
            await uow.records(CITIES).add(City.create(tenant.id, now, name=name, population=1))
        await uow.commit()
    return tenant.id


def unscoped(uow: SqlaUnitOfWork | SqlaOperatorUnitOfWork) -> Transaction:
    """The unit of work's own transaction, for SQL that forgets `tenant_id` on purpose."""
    return uow.transaction


async def test_unscoped_query_sees_only_the_current_tenant(
        sessions: Transactions) -> None:
    first = await make_tenant_with_cities(sessions, "a1", "a2")
    second = await make_tenant_with_cities(sessions, "b1")
    async with SqlaUnitOfWork(sessions, first) as uow:
        rows = (await unscoped(uow).execute(text("SELECT tenant_id, name FROM cities"))).all()
    assert sorted(name for _, name in rows) == ["a1", "a2"]
    assert {tenant for tenant, _ in rows} == {first}
    async with SqlaUnitOfWork(sessions, second) as uow:
        counted = await unscoped(uow).scalar(text("SELECT count(*) FROM cities"))
    assert counted == 1


async def test_no_tenant_set_sees_and_writes_nothing(
        sessions: Transactions) -> None:
    tenant = await make_tenant_with_cities(sessions, "hidden")
    async with SqlaOperatorUnitOfWork(sessions) as uow:
        for table in TENANT_TABLES:
            assert await unscoped(uow).scalar(text(f"SELECT count(*) FROM {table}")) == 0
        deleted = await unscoped(uow).execute(text("DELETE FROM cities"))
        assert deleted.rowcount == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            await unscoped(uow).execute(
                text("INSERT INTO cities VALUES (:t, gen_random_uuid(), 'x', 1, now(), now(), 1)"),
                {"t": tenant})
    async with SqlaUnitOfWork(sessions, tenant) as uow:
        assert await unscoped(uow).scalar(text("SELECT count(*) FROM cities")) == 1


async def test_writes_carrying_another_tenants_id_are_refused(
        sessions: Transactions) -> None:
    mine = await make_tenant_with_cities(sessions, "mine")
    theirs = await make_tenant_with_cities(sessions, "theirs")
    async with SqlaUnitOfWork(sessions, mine) as uow:
        with pytest.raises(DBAPIError, match="row-level security"):
            await unscoped(uow).execute(
                text("INSERT INTO cities VALUES (:t, gen_random_uuid(), 'x', 1, now(), now(), 1)"),
                {"t": theirs})
    async with SqlaUnitOfWork(sessions, mine) as uow:
        # Citus refuses to move a row across distribution values before the policy can
        with pytest.raises(DBAPIError, match="row-level security|partition value"):
            await unscoped(uow).execute(text("UPDATE cities SET tenant_id = :t"), {"t": theirs})
    async with SqlaUnitOfWork(sessions, mine) as uow:
        touched = await unscoped(uow).execute(
            text("UPDATE cities SET population = 0 WHERE tenant_id = :t"), {"t": theirs})
        assert touched.rowcount == 0
    async with SqlaUnitOfWork(sessions, theirs) as uow:
        assert await unscoped(uow).scalar(text("SELECT population FROM cities")) == 1


async def test_the_tenant_does_not_outlive_its_transaction(pg_url: str) -> None:
    engine = create_engine(pg_url, pool_size=1, max_overflow=0)
    sessions = Transactions(engine, TransactionScope())
    try:
        tenant = await make_tenant_with_cities(sessions, "one")
        async with SqlaUnitOfWork(sessions, tenant) as uow:
            assert await unscoped(uow).scalar(text("SELECT count(*) FROM cities")) == 1
            await uow.commit()
            # a new transaction in the same unit of work gets the tenant again
            assert await unscoped(uow).scalar(text("SELECT count(*) FROM cities")) == 1
        async with engine.connect() as connection:  # the same pooled connection, raw
            setting = await connection.scalar(
                text("SELECT current_setting('app.tenant_id', true)"))
            assert setting in (None, "")
            assert await connection.scalar(text("SELECT count(*) FROM cities")) == 0
    finally:
        await engine.dispose()


async def test_the_service_role_is_unprivileged(pg_url: str) -> None:
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        role = await connection.fetchrow(
            "SELECT current_user AS name, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb "
            "FROM pg_roles WHERE rolname = current_user")
        assert role["name"] == APP_ROLE
        assert not any((role["rolsuper"], role["rolbypassrls"], role["rolcreaterole"],
                        role["rolcreatedb"]))
        owned = await connection.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = current_user")
        assert owned == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("ALTER TABLE cities DISABLE ROW LEVEL SECURITY")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CREATE TABLE intruder (id int)")
    finally:
        await connection.close()


async def test_every_tenant_table_forces_its_policies(pg_url: str) -> None:
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        tables = await connection.fetch(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname = ANY($1::text[])", list(TENANT_TABLES))
        assert {(t["relname"], t["relrowsecurity"], t["relforcerowsecurity"]) for t in tables} \
            == {(name, True, True) for name in TENANT_TABLES}
        policies = await connection.fetch("SELECT tablename, policyname, cmd FROM pg_policies")
        assert {(p["tablename"], p["cmd"]) for p in policies
                if "_tenant_" in p["policyname"]} == {
            (table, cmd) for table in TENANT_TABLES
            for cmd in ("SELECT", "INSERT", "UPDATE", "DELETE")}
        # the one path across tenants: expired idempotency keys, to purge them
        assert {(p["tablename"], p["policyname"], p["cmd"]) for p in policies
                if "_tenant_" not in p["policyname"]} == {
            ("idempotency_keys", "idempotency_keys_purge_select", "SELECT"),
            ("idempotency_keys", "idempotency_keys_purge_delete", "DELETE")}
    finally:
        await connection.close()


async def test_the_tenant_rides_with_begin_in_one_round_trip(pg_url: str) -> None:
    from sqlalchemy import event

    engine = create_engine(pg_url, pool_size=1, max_overflow=0)
    sessions = Transactions(engine, TransactionScope())
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))
    try:
        tenant = await make_tenant_with_cities(sessions, "one", "two")
        statements.clear()
        async with SqlaUnitOfWork(sessions, tenant) as uow:
            session = unscoped(uow)
            assert await session.scalar(text("SELECT count(*) FROM cities")) == 2
            assert await session.scalar(
                text("SELECT current_setting('app.tenant_id')")) == str(tenant)
            assert await session.scalar(text("SHOW lock_timeout")) == "5s"
        assert not any("set_config" in statement for statement in statements), statements
    finally:
        await engine.dispose()
