"""Row-level security on idempotency_keys, as the service's role: a scope sees its own records;
the purge flag opens expired records of every scope to SELECT and DELETE, and nothing more."""

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio

INSERT = ("INSERT INTO idempotency_keys (tenant_id, key_hash, request_hash, created_at, "
          "expires_at) VALUES ($1, $2, 'r', now(), now() + $3::text::interval)")


@pytest_asyncio.fixture
async def connection(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    yield connection
    await connection.close()


async def as_scope(connection: asyncpg.Connection, scope: UUID | None,
                   purge: bool = False) -> None:
    await connection.execute(
        "SELECT set_config('app.tenant_id', $1, true), "
        "set_config('app.purge_idempotency', $2, true)",
        str(scope) if scope else "", "on" if purge else "")


async def add(connection: asyncpg.Connection, scope: UUID, key: str, lifetime: str) -> None:
    async with connection.transaction():
        await as_scope(connection, scope)
        await connection.execute(INSERT, scope, key, lifetime)


async def test_the_purge_flag_opens_expired_records_only(connection: asyncpg.Connection) -> None:
    first, second = uuid4(), uuid4()
    await add(connection, first, "expired-1", "-1 hour")
    await add(connection, second, "expired-2", "-1 hour")
    await add(connection, first, "live-1", "1 hour")
    mine = [first, second]
    count = "SELECT count(*) FROM idempotency_keys WHERE tenant_id = ANY($1::uuid[])"

    async with connection.transaction():
        await as_scope(connection, first)
        assert await connection.fetchval(count, mine) == 2
    async with connection.transaction():
        await as_scope(connection, None)
        assert await connection.fetchval(count, mine) == 0
    async with connection.transaction():
        await as_scope(connection, None, purge=True)
        rows = await connection.fetch(
            "SELECT key_hash FROM idempotency_keys WHERE tenant_id = ANY($1::uuid[])", mine)
        assert sorted(r["key_hash"] for r in rows) == ["expired-1", "expired-2"]
        touched = await connection.execute(
            "UPDATE idempotency_keys SET status = 200 WHERE tenant_id = ANY($1::uuid[])", mine)
        assert touched == "UPDATE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await connection.execute(INSERT, second, "intruder", "-1 hour")
    async with connection.transaction():
        await as_scope(connection, None, purge=True)
        deleted = await connection.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = ANY($1::uuid[])", mine)
        assert deleted == "DELETE 2"
    async with connection.transaction():
        await as_scope(connection, first)
        assert await connection.fetchval(count, mine) == 1
