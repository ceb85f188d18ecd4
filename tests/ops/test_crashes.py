"""Bad days against a real `catalog serve` on a private PostgreSQL: kill -9 in the middle of
keyed POSTs, PostgreSQL stopped under keyed load, and a routine fast restart while idle.

After each, no Idempotency-Key stays wedged: a retry replays the first answer, or runs again
(which, for a city, may find its name already taken when the first attempt committed and died
before recording its answer), within a few leases. Every acknowledged write is present."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_pg_database, owner_url_of
from tests.ops.harness import (Load, Outcome, Service, Tenant, missing_cities, new_tenant, send,
                               service_env)
from tests.support.postgres import PostgresServer, throwaway_postgres

LEASE = 1.0              # CATALOG_IDEMPOTENCY_LEASE_SECONDS for these servers
LOOPS = 16
MAX_PER_LOOP = 500
LOAD_SECONDS = 20.0
IDLE = 1.5              # > CATALOG_POOL_PRE_PING_IDLE_SECONDS (1 by default)
RETRY_DEADLINE = 15.0    # the longest a key may answer "still running" after the crash
SERVICE = {"pool_timeout": 2, "statement_timeout_ms": 3000, "lock_timeout_ms": 2000,
           "readiness_timeout": 1, "idempotency_lease_seconds": LEASE, "pool_size": 4}


@pytest.fixture(scope="module")
def private_server() -> Iterator[PostgresServer]:
    with throwaway_postgres(private=True) as server:
        assert isinstance(server, PostgresServer)
        yield server


@dataclass
class Keyed:
    key: str
    body: dict[str, object]
    first: Outcome | None = None


def keyed_posts(keys: list[Keyed]) -> object:
    async def request(client: httpx.AsyncClient, loop: int, count: int) -> Outcome:
        item = Keyed(str(uuid.uuid4()), {"name": f"k-{loop}-{count}-{uuid.uuid4().hex[:8]}",
                                         "population": count})
        keys.append(item)
        item.first = await send(client, loop, "POST", "/v1/cities", json=item.body,
                                headers={"Idempotency-Key": item.key})
        return item.first
    return request


def still_running(outcome: Outcome) -> bool:
    return outcome.status == 409 and "still running" in str(outcome.body)


@dataclass
class Retries:
    checked: int = 0
    replayed: int = 0
    ran_again: int = 0
    name_taken: int = 0   # ran again after a first attempt that committed, answer unrecorded
    stuck: int = 0
    other: list[str] | None = None


async def retry_every_key(base: str, tenant: Tenant, keys: list[Keyed]) -> Retries:
    """Retry each key until it no longer answers "still running" (bounded by a deadline)."""
    result, deadline = Retries(other=[]), time.monotonic() + RETRY_DEADLINE
    async with httpx.AsyncClient(base_url=base, headers=tenant.auth, timeout=20) as client:
        for item in keys:
            result.checked += 1
            while True:
                retry = await send(client, 0, "POST", "/v1/cities", json=item.body,
                                   headers={"Idempotency-Key": item.key})
                if not still_running(retry) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            if still_running(retry):
                result.stuck += 1
            elif retry.status == 201 and retry.headers.get("idempotent-replayed") == "true":
                result.replayed += 1
            elif retry.status == 201:
                result.ran_again += 1
            elif retry.status == 409:
                result.name_taken += 1
            else:
                result.other.append(str(retry))  # type: ignore[union-attr]
    return result


def acknowledged(keys: list[Keyed]) -> list[str]:
    return [str(k.first.body["id"]) for k in keys
            if k.first is not None and k.first.status == 201]


async def test_kill_9_in_the_middle_of_keyed_posts_wedges_no_key(
        private_server: PostgresServer, tmp_path: Path) -> None:
    url = await new_pg_database(private_server)
    owner = owner_url_of(private_server, url)
    env = service_env(url, owner, **SERVICE)
    keys: list[Keyed] = []
    with Service(env, tmp_path, name="first", workers=2) as first:
        await first.wait_for("/readyz")
        tenant = await new_tenant(first.base)
        async with httpx.AsyncClient(base_url=first.base, headers=tenant.auth, timeout=20,
                                     limits=httpx.Limits(max_connections=LOOPS)) as client:
            async with Load(client, LOOPS, LOAD_SECONDS, MAX_PER_LOOP,
                            request=keyed_posts(keys)) as load:  # type: ignore[arg-type]
                deadline = time.monotonic() + LOAD_SECONDS / 2
                while len(acknowledged(keys)) < 100 and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                first.kill()  # SIGKILL the server and its workers, mid-request
                load.stop()
    assert len(acknowledged(keys)) >= 100, "too little load before the kill"
    interrupted = [k for k in keys if k.first is not None and k.first.status is None]
    with Service(env, tmp_path, name="second") as second:
        await second.wait_for("/readyz")
        retries = await retry_every_key(second.base, tenant, keys)
    print(f"\nkill -9: {retries.checked} keys checked, {len(interrupted)} cut off by the kill, "
          f"{retries.replayed} replayed, {retries.ran_again} ran again, {retries.name_taken} "
          f"found their name taken, {retries.stuck} stuck")
    assert retries.stuck == 0
    assert retries.other == []
    assert retries.replayed >= len(acknowledged(keys))
    assert await missing_cities(owner, tenant.id, acknowledged(keys)) == set()


async def test_postgres_stopped_under_keyed_load_wedges_no_key(
        private_server: PostgresServer, tmp_path: Path) -> None:
    """Also: an attempt that answered 5xx leaves no claim behind (after its lease at most)."""
    url = await new_pg_database(private_server)
    owner = owner_url_of(private_server, url)
    keys: list[Keyed] = []
    with Service(service_env(url, owner, **SERVICE), tmp_path, workers=2) as service:
        await service.wait_for("/readyz")
        tenant = await new_tenant(service.base)
        try:
            async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth, timeout=20,
                                         limits=httpx.Limits(max_connections=LOOPS)) as client:
                async with Load(client, LOOPS, LOAD_SECONDS, MAX_PER_LOOP,
                                request=keyed_posts(keys)) as load:  # type: ignore[arg-type]
                    deadline = time.monotonic() + LOAD_SECONDS / 2
                    while len(acknowledged(keys)) < 50 and time.monotonic() < deadline:
                        await asyncio.sleep(0.02)
                    await asyncio.to_thread(private_server.halt, "fast")
                    await asyncio.sleep(1.0)
                    await asyncio.to_thread(private_server.start)
                    await service.wait_for("/readyz", timeout=10)
                    load.stop()
        finally:
            if not private_server.running:
                private_server.start()
        failed = [k for k in keys if k.first is not None and not k.first.ok]
        assert any(k.first.status == 503 for k in failed), "the outage was not seen"
        retries = await retry_every_key(service.base, tenant, keys)
    print(f"\ndatabase stop: {retries.checked} keys checked, {len(failed)} failed first, "
          f"{retries.replayed} replayed, {retries.ran_again} ran again, {retries.name_taken} "
          f"found their name taken, {retries.stuck} stuck")
    assert retries.stuck == 0
    assert retries.other == []
    assert await missing_cities(owner, tenant.id, acknowledged(keys)) == set()


async def test_the_first_request_of_each_kind_after_a_fast_restart_succeeds(
        private_server: PostgresServer, tmp_path: Path) -> None:
    url = await new_pg_database(private_server)
    owner = owner_url_of(private_server, url)
    with Service(service_env(url, owner, **SERVICE), tmp_path) as service:
        await service.wait_for("/readyz")
        tenant = await new_tenant(service.base)
        async with httpx.AsyncClient(base_url=service.base, headers=tenant.auth,
                                     timeout=20) as client:
            book = (await client.post("/v1/books", json={"name": "b", "author": "a",
                                                         "release_year": 1})).json()
            city = (await client.post("/v1/cities", json={"name": "c", "population": 1})).json()
            # every pooled connection in use once, so that all of them die in the restart
            warm = await asyncio.gather(*(client.get("/v1/cities/biggest") for _ in range(12)))
            assert {r.status_code for r in warm} == {200}

            await asyncio.to_thread(private_server.restart, "fast")
            await asyncio.sleep(IDLE)  # the service idle for longer than its pre-ping threshold

            firsts = [
                await client.get("/v1/me"),
                await client.get("/v1/cities/biggest"),
                await client.get(f"/v1/books/{book['id']}"),
                await client.get("/v1/books"),
                await client.post("/v1/books", json={"name": "n", "author": "a",
                                                     "release_year": 2}),
                await client.patch(f"/v1/cities/{city['id']}", json={"population": 2}),
                await client.post("/v1/users/by-name/ada", json={"full_name": "Ada"}),
                await client.post("/v1/cities", json={"name": "d", "population": 3},
                                  headers={"Idempotency-Key": str(uuid.uuid4())}),
                await client.delete(f"/v1/books/{book['id']}"),
                await client.get("/readyz"),
            ]
    assert [r.status_code for r in firsts] == [200, 200, 200, 200, 201, 200, 201, 201, 204,
                                               200], [r.text for r in firsts]
