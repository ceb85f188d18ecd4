"""The baseline: the two benchmarked requests as a bare ASGI app on one asyncpg pool.

No framework, no ORM, no middleware: what the service's two hot paths cost at the least, on the
same uvicorn, the same database, the same SQL (the statements SQLAlchemy compiles for the
service, see below) and the same JSON (orjson, OPT_UTC_Z), with one round trip per request.

- `GET /v1/cities/biggest?limit=N` (1…100, default 20): the tenant's most populated cities.
- `POST /v1/cities` `{"name", "population"}`: 201 with the city, `Location` and `ETag`; 409 when
  the tenant has that name; `INSERT … RETURNING` in one round trip (autocommit).
- `GET /healthz`: 200.

API keys: every key (tenant id, key id, secret hash) is loaded with one query at startup into a
dict; a presented token is parsed as the service parses it (`ck_<tenant><key>_<secret>`),
verified once with SHA-256 in constant time, then remembered token → tenant for the life of the
process (the service keeps a 30 s TTL cache instead, so the baseline never queries for a key
after startup). Keys made after startup are unknown to it (401).

`raw` (`uvicorn bench.baseline:raw`) is the raw ASGI limit: the same app with no authentication
at all. It takes the tenant id from the bearer token's first 32 hex digits without checking
anything else (no key dict, no hash), so it answers the same requests with the same bytes and
the cost of a request is uvicorn, one query on the pool, and orjson.

`scoped` (`uvicorn bench.baseline:scoped`) is the baseline with the service's round trips:
each request is a transaction begun as the service begins one on PostgreSQL (the transaction
module's own `BEGIN [READ ONLY]; SELECT set_config(tenant, timeouts…)` message), then the same
statement, then `COMMIT`: three round trips where the baseline makes one. It is not one of the
references of `python -m bench`; `python -m bench.variants --references baseline,scoped` puts
the two side by side, which is what the round trips cost without anything else of the service.

Run by the benchmark as `uvicorn bench.baseline:app --workers N`; settings from the environment:
BENCH_DATABASE_URL (postgresql://…), BENCH_POOL_SIZE (default 20, the service's pool size plus
its overflow; the pool opens them all at startup). The pool's reset-on-release query is turned
off (every statement is a single autocommit statement that leaves nothing behind), so a request
is exactly one round trip.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from domain.ids import new_id

# What the service sends: SqlaCityReader.biggest() and SqlaRecordRepository.add(), compiled
# by SQLAlchemy's postgresql+asyncpg dialect; the insert gains RETURNING (the service builds its
# answer from the values it sent instead).
BIGGEST_SQL = (
    "SELECT cities.tenant_id, cities.id, cities.name, cities.population, cities.created_at, "
    "cities.updated_at, cities.version \nFROM cities \nWHERE cities.tenant_id = $1::UUID "
    "ORDER BY cities.population DESC, cities.name \n LIMIT $2::INTEGER")
INSERT_SQL = (
    "INSERT INTO cities (tenant_id, id, name, population, created_at, updated_at, version) "
    "VALUES ($1::UUID, $2::UUID, $3::VARCHAR, $4::BIGINT, $5::TIMESTAMP WITH TIME ZONE, "
    "$6::TIMESTAMP WITH TIME ZONE, $7::INTEGER) "
    "RETURNING cities.id, cities.name, cities.population, cities.created_at, cities.updated_at, "
    "cities.version")
KEYS_SQL = "SELECT tenant_id, id, secret_hash FROM api_keys WHERE revoked_at IS NULL"

INT64_MAX = 2**63 - 1
MAX_BODY = 1024 * 1024
_HEX = frozenset("0123456789abcdef")
_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", b"application/problem+json")]


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset: the pool's default would add a round trip (RESET ALL …) per request."""


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_UTC_Z)


class Baseline:
    """The ASGI callable; one instance per worker process."""

    def __init__(self, *, verify: bool = True, scoped: bool = False) -> None:
        self.verify, self.scoped = verify, scoped
        self.pool: asyncpg.Pool | None = None
        self.keys: dict[str, tuple[UUID, str]] = {}
        self.tokens: dict[str, UUID] = {}

    async def startup(self) -> None:
        size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
        dsn = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        self.pool = await asyncpg.create_pool(
            dsn, min_size=size, max_size=size, reset=_keep_session,
            server_settings={"application_name": os.environ.get("BENCH_APP_NAME",
                                                                "bench-baseline"), "statement_timeout": "15000"})
        if not self.verify:
            return
        rows = await self.pool.fetch(KEYS_SQL)
        self.keys = {row["tenant_id"].hex + row["id"].hex: (UUID(hex=row["tenant_id"].hex),
                                                           row["secret_hash"]) for row in rows}

    def tenant(self, scope: dict[str, Any]) -> UUID | None:
        """The tenant of the request's bearer token, or None."""
        value = next((v for name, v in scope["headers"] if name == b"authorization"), None)
        if value is None:
            return None
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not self.verify:
            return unverified_tenant(token)
        tenant_id = self.tokens.get(token)
        if tenant_id is not None:
            return tenant_id
        if not token.startswith("ck_") or len(token) > 200:
            return None
        ids, sep, secret = token[3:].partition("_")
        if not sep or len(ids) != 64 or not secret or not _HEX.issuperset(ids):
            return None
        found = self.keys.get(ids)
        if found is None or not hmac.compare_digest(
                hashlib.sha256(secret.encode()).hexdigest(), found[1]):
            return None
        tenant_id = found[0]
        self.tokens[token] = tenant_id
        return tenant_id

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            await respond(send, 200, b'{"status":"ok"}')
            return
        if path not in ("/v1/cities/biggest", "/v1/cities"):
            await problem(send, 404, "Not Found")
            return
        tenant_id = self.tenant(scope)
        if tenant_id is None:
            await problem(send, 401, "Unauthorized",
                          [(b"www-authenticate", b'Bearer realm="catalog"')])
            return
        if path == "/v1/cities/biggest" and method == "GET":
            await self.biggest(scope, send, tenant_id)
        elif path == "/v1/cities" and method == "POST":
            await self.create(receive, send, tenant_id)
        else:
            await problem(send, 405, "Method Not Allowed")

    async def biggest(self, scope: dict[str, Any], send: Any, tenant_id: UUID) -> None:
        limit = 20
        for pair in scope["query_string"].split(b"&"):
            name, _, value = pair.partition(b"=")
            if name == b"limit":
                limit = int(value) if value.isdigit() else 0
        if not 1 <= limit <= 100:
            await problem(send, 422, "Unprocessable Content")
            return
        assert self.pool is not None
        if self.scoped:
            async with self.pool.acquire() as connection:
                await connection.execute(begin_message(tenant_id, readonly=True))
                rows = await connection.fetch(BIGGEST_SQL, tenant_id, limit)
                await connection.execute("COMMIT")
        else:
            rows = await self.pool.fetch(BIGGEST_SQL, tenant_id, limit)
        await respond(send, 200, dumps([
            {"id": str(r["id"]), "name": r["name"], "population": r["population"],
             "created_at": r["created_at"], "updated_at": r["updated_at"],
             "version": r["version"]} for r in rows]))

    async def create(self, receive: Any, send: Any, tenant_id: UUID) -> None:
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await problem(send, 413, "Content Too Large")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            body = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            body = None
        name = body.get("name") if isinstance(body, dict) else None
        population = body.get("population") if isinstance(body, dict) else None
        if (not isinstance(body, dict) or set(body) != {"name", "population"}
                or not isinstance(name, str) or not 1 <= len(name) <= 200
                or type(population) is not int or not 0 <= population <= INT64_MAX):
            await problem(send, 422, "Unprocessable Content")
            return
        now = datetime.now(UTC)
        assert self.pool is not None
        try:
            if self.scoped:
                async with self.pool.acquire() as connection:
                    await connection.execute(begin_message(tenant_id, readonly=False))
                    try:
                        row = await connection.fetchrow(INSERT_SQL, tenant_id, new_id(), name,
                                                        population, now, now, 1)
                    except BaseException:
                        await connection.execute("ROLLBACK")
                        raise
                    await connection.execute("COMMIT")
            else:
                row = await self.pool.fetchrow(INSERT_SQL, tenant_id, new_id(), name,
                                               population, now, now, 1)
        except asyncpg.UniqueViolationError:
            await problem(send, 409, "Conflict")
            return
        city = {"id": str(row["id"]), "name": row["name"], "population": row["population"],
                "created_at": row["created_at"], "updated_at": row["updated_at"],
                "version": row["version"]}
        await respond(send, 201, dumps(city), [
            (b"location", f"/v1/cities/{row['id']}".encode()),
            (b"etag", f'"{row["version"]}"'.encode())])

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:  # noqa: BLE001 - reported to uvicorn
                    await send({"type": "lifespan.startup.failed", "message": repr(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


@functools.cache
def _scope() -> Any:
    from adapters.sqlalchemy.transactions import TransactionScope  # only `scoped` needs it

    return TransactionScope()


def begin_message(tenant_id: UUID, *, readonly: bool) -> str:
    """The message the service's transaction module begins a PostgreSQL transaction with."""
    from adapters.sqlalchemy.transactions import Backend

    messages = _scope().begin_messages(Backend.POSTGRESQL, tenant_id, readonly=readonly,
                                       purge=False)
    assert len(messages) == 1
    return str(messages[0])


def unverified_tenant(token: str) -> UUID | None:
    """The tenant id a token names (`ck_<32 hex tenant>…`), nothing checked: no auth at all."""
    if not token.startswith("ck_") or len(token) < 35:
        return None
    try:
        return UUID(hex=token[3:35])
    except ValueError:
        return None


async def respond(send: Any, status: int, body: bytes,
                  headers: list[tuple[bytes, bytes]] | None = None,
                  content_type: list[tuple[bytes, bytes]] = _JSON) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        *content_type, (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def problem(send: Any, status: int, title: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = dumps({"type": "about:blank", "title": title, "status": status, "detail": title})
    await respond(send, status, body, headers, _PROBLEM)


app = Baseline()
raw = Baseline(verify=False)
scoped = Baseline(scoped=True)
