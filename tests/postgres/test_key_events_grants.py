"""The key event log as the service's role: it may append, read and delete events, never
change one; and api_keys' new columns stay under row-level security."""

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
import pytest_asyncio

from domain.ids import new_id


@pytest_asyncio.fixture
async def connection(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    yield connection
    await connection.close()


async def test_events_are_appended_read_and_deleted_but_never_changed(
        connection: asyncpg.Connection) -> None:
    event = new_id()
    await connection.execute("INSERT INTO key_events (id, kind, tenant_id) VALUES ($1, 'tenant', "
                             "$2)", event, uuid4())  # no tenant set: not a tenant table
    assert await connection.fetchval("SELECT kind FROM key_events WHERE id = $1", event) == "tenant"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await connection.execute("UPDATE key_events SET kind = 'key' WHERE id = $1", event)
    assert await connection.execute("DELETE FROM key_events WHERE id = $1", event) == "DELETE 1"


async def test_key_metadata_is_invisible_without_the_tenant(
        connection: asyncpg.Connection) -> None:
    tenant, key = new_id(), new_id()
    await connection.execute("INSERT INTO tenants (id, slug, name, created_at) "
                             "VALUES ($1, $2, 'n', now())", tenant, f"grants-{tenant.hex}")
    async with connection.transaction():
        await connection.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
        await connection.execute("INSERT INTO api_keys (tenant_id, id, secret_hash, created_at, "
                                 "name) VALUES ($1, $2, 'h', now(), 'mine')", tenant, key)
        assert await connection.fetchval("SELECT name FROM api_keys WHERE id = $1", key) == "mine"
    assert await connection.fetchval("SELECT count(*) FROM api_keys WHERE id = $1", key) == 0
    updated = await connection.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1",
                                       key)
    assert updated == "UPDATE 0"
