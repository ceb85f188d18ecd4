"""TEMPORARY stand-ins for `sqlite_url` / `pg_url`, until tests/conftest.py provides them.

The schema comes from `metadata.create_all`, not from the migrations. Delete this file and
its import in tests/contract/conftest.py once tests/conftest.py defines both fixtures."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sqlalchemy.tables import metadata


async def _create_schema(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "catalog.db"
    url = f"sqlite+aiosqlite:///{path}"
    await _create_schema(url)
    return url


@pytest_asyncio.fixture(scope="session")
async def pg_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    import pgserver

    data: Path = tmp_path_factory.mktemp("pgdata")
    server = pgserver.get_server(str(data), cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE contract;")
        url = f"postgresql+asyncpg://postgres@/contract?host={data}"
        await _create_schema(url)
        yield url
    finally:
        server.cleanup()
