"""Migration 0005 on SQLite and PostgreSQL: existing keys become read-write keys with no
expiry; going back revokes the keys that would otherwise gain rights (read-only, expiring)."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import Uuid, bindparam, text

from adapters.sqlalchemy import migrate
from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.tables import UtcDateTime
from tests.migrations.test_migrations import empty_url  # noqa: F401  (the fixture)

KEY = ("INSERT INTO api_keys (tenant_id, id, secret_hash, created_at) "
       "VALUES (:tenant, :id, :hash, :now)")


async def run(url: str, sql: str, **values: object) -> list[dict[str, object]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            typed = [bindparam(name, value, type_=Uuid() if isinstance(value, UUID) else
                               UtcDateTime() if isinstance(value, datetime) else None)
                     for name, value in values.items()]
            result = await connection.execute(text(sql).bindparams(*typed))
            return [dict(row) for row in result.mappings()] if result.returns_rows else []
    finally:
        await engine.dispose()


def key_id(value: object) -> str:
    return str(value).replace("-", "")


async def test_existing_keys_become_read_write_with_no_expiry(empty_url: str) -> None:  # noqa: F811
    await migrate.upgrade(empty_url, "0004")
    tenant, old, now = uuid4(), uuid4(), datetime.now(UTC)
    await run(empty_url, "INSERT INTO tenants (id, slug, name, created_at) "
                         "VALUES (:id, 'acme', 'Acme', :now)", id=tenant, now=now)
    await run(empty_url, KEY, tenant=tenant, id=old, hash="0" * 64, now=now)

    await migrate.upgrade(empty_url, "0005")
    (row,) = await run(empty_url, "SELECT name, scopes, expires_at, last_used_at, revoked_at "
                                  "FROM api_keys")
    assert row == {"name": "", "scopes": "read,write", "expires_at": None,
                   "last_used_at": None, "revoked_at": None}

    read_only, expiring = uuid4(), uuid4()
    await run(empty_url, KEY.replace("created_at)", "created_at, scopes)")
                             .replace(":now)", ":now, 'read')"),
              tenant=tenant, id=read_only, hash="1" * 64, now=now)
    await run(empty_url, KEY.replace("created_at)", "created_at, expires_at)")
                             .replace(":now)", ":now, :later)"),
              tenant=tenant, id=expiring, hash="2" * 64, now=now, later=now + timedelta(days=1))
    await migrate.downgrade(empty_url, "0004")
    rows = await run(empty_url, "SELECT id, revoked_at FROM api_keys")
    revoked = {key_id(r["id"]) for r in rows if r["revoked_at"] is not None}
    assert revoked == {key_id(read_only), key_id(expiring)} and len(rows) == 3
    await migrate.upgrade(empty_url)
    assert await migrate.is_at_head(empty_url)
