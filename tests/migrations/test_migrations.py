"""Migrations on SQLite and PostgreSQL: up, down and up again, per revision, and no drift."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import (BigInteger, Connection, MetaData, String, func, insert, inspect, select,
                        text)
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from tests.support import PostgresServer, new_pg_database, new_sqlite_database

from adapters.sqlalchemy import migrate
from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.tables import books, metadata, tenants

SCHEMA = set(metadata.tables) | {"alembic_version"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the test's own, on each dialect."""
    if request.param == "sqlite":
        return await new_sqlite_database(tmp_path, migrated=False)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await new_pg_database(server, migrated=False, as_owner=True)


async def inspected(url: str, look: Callable[[Connection], Any]) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    return set(await inspected(url, lambda sync: inspect(sync).get_table_names()))


async def drift(url: str, declared: MetaData = metadata) -> list[Any]:
    """What autogenerate would change to make the database match tables.py (which builds each
    resource's table from its fields' rules)."""
    def compare(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, declared))
    return list(await inspected(url, compare))


def revisions() -> list[Script]:
    """Every revision, oldest first."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return list(reversed(list(scripts.walk_revisions())))


async def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    assert await migrate.current(empty_url) is None
    await migrate.upgrade(empty_url)
    assert await migrate.current(empty_url) == await migrate.head()
    assert await table_names(empty_url) == SCHEMA

    await migrate.downgrade(empty_url, "base")
    assert await migrate.current(empty_url) is None
    assert await table_names(empty_url) == {"alembic_version"}

    await migrate.upgrade(empty_url)
    assert await migrate.is_at_head(empty_url)
    assert await table_names(empty_url) == SCHEMA


async def test_stairway(empty_url: str) -> None:
    for script in revisions():
        await migrate.upgrade(empty_url, script.revision)
        await migrate.downgrade(empty_url, script.down_revision or "base")  # type: ignore[arg-type]
        await migrate.upgrade(empty_url, script.revision)
        assert await migrate.current(empty_url) == script.revision
    assert await migrate.is_at_head(empty_url)


async def test_head_matches_the_tables(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    assert await drift(empty_url) == []


@pytest.mark.parametrize("table, column, declared", [
    ("books", "name", String(100)), ("users", "full_name", String(300)),
    ("books", "release_year", BigInteger())])
async def test_a_rule_changed_without_a_migration_is_drift(
        empty_url: str, table: str, column: str, declared: Any) -> None:
    """The agreement check can fail: a field limit changed in the rules alone (so in the
    table tables.py builds from them) and not in a migration is found."""
    await migrate.upgrade(empty_url)
    changed = MetaData()
    for each in metadata.tables.values():
        each.to_metadata(changed)
    changed.tables[table].c[column].type = declared
    found = await drift(empty_url, changed)
    changes = [change for group in found for change in (group if isinstance(group, list)
                                                          else [group])]
    assert [(c[0], c[2], c[3]) for c in changes] == [("modify_type", table, column)]


async def test_biggest_cities_index_is_descending(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    sql = ("SELECT indexdef FROM pg_indexes WHERE indexname = :name"
           if empty_url.startswith("postgresql") else
           "SELECT sql FROM sqlite_master WHERE name = :name")
    definition = await inspected(empty_url, lambda sync: sync.execute(
        text(sql), {"name": "ix_cities_tenant_id_population_name"}).scalar_one())
    assert "(tenant_id, population DESC, name)" in definition


async def test_deleting_a_tenant_cascades(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    engine = create_engine(empty_url)
    now, tenant_id = datetime.now(UTC), uuid4()
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(tenants).values(
                id=tenant_id, slug="acme", name="Acme", created_at=now))
            await connection.execute(insert(books).values(
                tenant_id=tenant_id, id=uuid4(), name="B", author="A", release_year=2000,
                created_at=now, updated_at=now, version=1))
            await connection.execute(tenants.delete().where(tenants.c.id == tenant_id))
            assert await connection.scalar(select(func.count()).select_from(books)) == 0
    finally:
        await engine.dispose()


async def test_sync_creates_an_empty_database_and_is_idempotent(empty_url: str) -> None:
    await migrate.sync(empty_url)
    assert await migrate.is_at_head(empty_url)
    assert await drift(empty_url) == []
    await migrate.sync(empty_url)
    assert await migrate.is_at_head(empty_url)
    assert await table_names(empty_url) == SCHEMA


async def test_sync_upgrades_a_migrated_or_emptied_database(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    await migrate.sync(empty_url)
    assert await migrate.is_at_head(empty_url)
    await migrate.downgrade(empty_url, "base")
    assert not await migrate.is_at_head(empty_url)
    await migrate.sync(empty_url)
    assert await migrate.is_at_head(empty_url)
    assert await drift(empty_url) == []


async def test_sync_refuses_tables_without_a_revision(empty_url: str) -> None:
    def create_tables(sync: Connection) -> None:
        metadata.create_all(sync)
        sync.commit()

    await inspected(empty_url, create_tables)
    with pytest.raises(RuntimeError, match="no Alembic revision"):
        await migrate.sync(empty_url)
    assert await migrate.current(empty_url) is None


async def test_alembic_commands_also_work_inside_a_running_loop(empty_url: str) -> None:
    command.upgrade(migrate.alembic_config(empty_url), "head")  # env.py moves to a thread
    assert await migrate.is_at_head(empty_url)


def test_scripts_come_from_the_migrations_package() -> None:
    location = migrate.script_location()
    assert (location / "env.py").is_file() and (location / "__init__.py").is_file()
    assert [script.revision for script in revisions()][-1] == migrate.head_revision()
