"""Seeding: tenants, their API keys and their cities, straight into the migrated schema.

Rows are written with COPY and INSERT … SELECT generate_series, not through the service, so
10,000 tenants take about a minute, not hours. Keys have the service's own format and hash
(`domain.tokens.format_token`; the SHA-256 hex digest of the secret, as `Sha256KeyHasher`
stores it), so the service's real authentication accepts them. Tenant and key ids come from
`domain.ids.new_id`; city ids are made in SQL with new_id's exact UUIDv7 layout (see
CITIES_SQL). Loading connections run with `session_replication_role = replica`, which skips the
foreign-key triggers (the rows are consistent by construction); every index and constraint
stays as the migrations made it.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from domain.ids import new_id
from domain.tokens import format_token

DEEP_SLUG = "bench-deep"
DEEP_CITIES = 100_000  # 1,000 pages of 100: the keyset probe walks them
BATCH_ROWS = 100_000   # cities per INSERT … SELECT

# new_id() costs ~7 µs a call in Python (70 s for 10 million cities), so city ids are made in
# SQL with its exact layout: 48 bits of Unix milliseconds, version 7 and a 12-bit counter that
# keeps them increasing (one int8), then the RFC 9562 variant and 62 random bits (random(), as
# gen_random_uuid() costs 4 µs a row here).
CITIES_SQL = """
INSERT INTO cities (tenant_id, id, name, population, created_at, updated_at, version)
SELECT t.tenant_id,
       encode(int8send((($4::bigint + ((t.base + g) >> 12)) << 16) | 28672 | ((t.base + g) & 4095))
              || int8send((floor(random() * 2147483648)::bigint << 31)
                          | floor(random() * 2147483648)::bigint
                          | (-9223372036854775808)::bigint), 'hex')::uuid,
       'city-' || lpad(g::text, 6, '0'),
       1000 + 7 * floor(random() * 2857000)::bigint,
       $5, $5, 1
FROM unnest($1::uuid[], $2::bigint[], $3::int[]) AS t(tenant_id, base, n)
CROSS JOIN LATERAL generate_series(0, t.n - 1) AS g
"""
INDEXES_SQL = """
SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, con.conname,
       con.contype::text AS contype, con.condeferrable
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
WHERE i.indrelid = 'cities'::regclass ORDER BY c.relname
"""


@dataclass(frozen=True)
class Profile:
    name: str
    tenants: int
    cities_per_tenant: int


PROFILES = {"default": Profile("default", 50, 1_000), "large": Profile("large", 10_000, 1_000)}


@dataclass
class Seeded:
    """What the load needs: one API key per tenant, the deep tenant's key, and timings."""

    tokens: list[str]
    deep_token: str | None
    seconds: float
    cities: int


def _new_key(tenant_id: object, now: datetime) -> tuple[tuple[object, ...], str]:
    secret = secrets.token_urlsafe(32)  # as Sha256KeyHasher.new_secret()
    key_id = new_id()
    secret_hash = hashlib.sha256(secret.encode()).hexdigest()  # as Sha256KeyHasher.hash()
    return (tenant_id, key_id, secret_hash, now, None), format_token(tenant_id, key_id, secret)


async def _load_cities(pool: asyncpg.Pool, queue: asyncio.Queue[tuple[list, list, list] | None],
                       start_ms: int, now: datetime) -> None:
    async with pool.acquire() as connection:
        await connection.execute("SET session_replication_role = replica")
        while (batch := queue.get_nowait()) is not None:
            await connection.execute(CITIES_SQL, *batch, start_ms, now)


async def _run_all(pool: asyncpg.Pool, statements: list[str]) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for statement in statements:
        queue.put_nowait(statement)

    async def worker() -> None:
        async with pool.acquire() as connection:
            await connection.execute("SET maintenance_work_mem = '512MB'")
            while not queue.empty():
                await connection.execute(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(pool.get_max_size())))


async def _without_indexes(pool: asyncpg.Pool, load: Callable[[], Awaitable[None]]) -> None:
    """Run `load` with the cities' indexes dropped, then rebuild them exactly as they were.

    Building an index once is about 3x faster than keeping it up to date row by row. Plain
    PRIMARY KEY and UNIQUE constraints are re-attached to their rebuilt indexes (USING INDEX);
    anything fancier (or a failed drop) falls back to loading with the indexes in place."""
    async with pool.acquire() as connection:
        before = [dict(row) for row in await connection.fetch(INDEXES_SQL)]
        plain = all(row["conname"] in (None, row["name"]) and row["contype"] in (None, "p", "u")
                    and not row["condeferrable"] for row in before)
        if not plain:
            await load()
            return
        try:
            async with connection.transaction():
                for row in before:
                    if row["conname"]:
                        await connection.execute(
                            f'ALTER TABLE cities DROP CONSTRAINT "{row["conname"]}"')
                    else:
                        await connection.execute(f'DROP INDEX "{row["name"]}"')
        except asyncpg.PostgresError:
            await load()
            return
    await load()
    await _run_all(pool, [row["definition"] for row in before])
    async with pool.acquire() as connection:
        for row in before:
            if row["conname"]:
                kind = "PRIMARY KEY" if row["contype"] == "p" else "UNIQUE"
                await connection.execute(f'ALTER TABLE cities ADD CONSTRAINT "{row["conname"]}" '
                                         f'{kind} USING INDEX "{row["name"]}"')
        after = [dict(row) for row in await connection.fetch(INDEXES_SQL)]
    if after != before:
        raise RuntimeError(f"the cities' indexes differ after seeding:\n{before}\n{after}")


async def seed(dsn: str, profile: Profile, *, deep: bool = True, loaders: int = 2) -> Seeded:
    """Fill the (migrated, empty) database at `dsn`; return the tenants' API keys."""
    started = time.monotonic()
    now = datetime.now(UTC)
    specs = [(f"bench-t{i:05d}", profile.cities_per_tenant) for i in range(profile.tenants)]
    if deep:
        specs.append((DEEP_SLUG, DEEP_CITIES))
    tenants, keys, tokens = [], [], []
    for slug, _ in specs:
        tenant_id = new_id()
        tenants.append((tenant_id, slug, f"Bench tenant {slug}", now))
        key, token = _new_key(tenant_id, now)
        keys.append(key)
        tokens.append(token)
    # batches of whole tenants, about BATCH_ROWS cities each, with their ids' counter bases
    queue: asyncio.Queue[tuple[list, list, list] | None] = asyncio.Queue()
    batch: tuple[list, list, list] = ([], [], [])
    base = rows = 0
    for (tenant_id, *_), (_, count) in zip(tenants, specs, strict=True):
        for column, value in zip(batch, (tenant_id, base, count), strict=True):
            column.append(value)
        base, rows = base + count, rows + count
        if rows >= BATCH_ROWS:
            queue.put_nowait(batch)
            batch, rows = ([], [], []), 0
    if batch[0]:
        queue.put_nowait(batch)
    for _ in range(loaders):
        queue.put_nowait(None)
    pool = await asyncpg.create_pool(dsn, min_size=loaders, max_size=loaders,
                                     server_settings={"application_name": "bench-seed"})
    try:
        async with pool.acquire() as connection:
            await connection.copy_records_to_table(
                "tenants", records=tenants, columns=("id", "slug", "name", "created_at"))
            await connection.copy_records_to_table(
                "api_keys", records=keys,
                columns=("tenant_id", "id", "secret_hash", "created_at", "revoked_at"))
        start_ms = time.time_ns() // 1_000_000

        async def load() -> None:
            await asyncio.gather(*(_load_cities(pool, queue, start_ms, now)
                                   for _ in range(loaders)))

        await _without_indexes(pool, load)
        async with pool.acquire() as connection:
            await connection.execute("VACUUM (ANALYZE) tenants, api_keys, cities")
    finally:
        await pool.close()
    deep_token = tokens.pop() if deep else None
    return Seeded(tokens, deep_token, time.monotonic() - started, base)


def write_keys(path: Path, tokens: list[str]) -> None:
    path.write_text("".join(f"{token}\n" for token in tokens))
