"""Readiness: the database answers, and its schema is at the migrations' head."""

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy import migrate

_REVISION = text("SELECT version_num FROM alembic_version")


class SchemaReadiness:
    """Checks on a dedicated one-connection engine, so an exhausted service pool cannot make
    the probe wait or lie."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def __call__(self) -> str | None:
        """Why the service is not ready, or None when it is."""
        async with self._engine.connect() as connection:
            try:
                revision = await connection.scalar(_REVISION)
            except DBAPIError as error:
                if error.connection_invalidated:
                    raise
                return "the schema has not been created: run `catalog db upgrade`"
        head = migrate.head_revision()
        if revision != head:
            return f"the schema is at {revision or 'no revision'}, not at head {head}"
        return None
