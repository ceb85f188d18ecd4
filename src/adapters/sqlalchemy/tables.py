"""The schema: every tenant table leads its keys and indexes with `tenant_id`; each resource's
table is built from its declaration (domain.model.RESOURCES)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (BigInteger, Column, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, String, Table, TypeDecorator, UniqueConstraint, Uuid)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from domain.model import BOOKS, CITIES, RESOURCES, USERS, Record, Resource
from domain.model.rules import Rule, Text
from domain.model.rules import Integer as IntegerRule

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
INT32 = IntegerRule(-(2**31), 2**31 - 1)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    # asyncpg already reads and writes timestamptz as aware datetimes: no per-value work there
    def bind_processor(self, dialect: Dialect) -> Any:
        return None if dialect.name == "postgresql" else super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        return None if dialect.name == "postgresql" else super().result_processor(dialect, coltype)


def _tenant_id() -> Column[object]:
    return Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"),
                  primary_key=True)


def _record_columns() -> list[Column[object]]:
    return [
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("version", Integer, nullable=False),
    ]


tenants = Table(
    "tenants", metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(63), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("rate_limit_rate", Float, nullable=True),
    Column("rate_limit_burst", Integer, nullable=True),
    UniqueConstraint("slug"),
)

api_keys = Table(
    "api_keys", metadata,
    _tenant_id(),
    Column("id", Uuid, primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("name", String(100), nullable=False, server_default=""),
    Column("scopes", String(32), nullable=False, server_default="read,write"),  # comma-separated
    Column("expires_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
)

def _field_type(rule: Rule) -> TypeEngine[Any]:
    """The column type that holds every value `rule` admits: VARCHAR(max) for text, INTEGER
    or BIGINT for a range."""
    if isinstance(rule, Text):
        return String(rule.max_length)
    return Integer() if INT32.minimum <= rule.minimum and rule.maximum <= INT32.maximum \
        else BigInteger()


def record_table(resource: Resource[Record]) -> Table:
    """A resource's table: (tenant_id, id) as the key, a NOT NULL column per field, the
    record's timestamps and version, UNIQUE (tenant_id, field) per unique field, and an index
    on (tenant_id, field, id) per list filter."""
    return Table(
        resource.collection, metadata,
        _tenant_id(),
        Column("id", Uuid, primary_key=True),
        *(Column(name, _field_type(rule), nullable=False) for name, rule in resource.rules.items()),
        *_record_columns(),
        *(UniqueConstraint("tenant_id", name) for name in resource.unique),
        *(Index(None, "tenant_id", name, "id") for name in resource.filters),
    )


RECORD_TABLES: dict[Resource[Record], Table] = {resource: record_table(resource)
                                                for resource in RESOURCES}
books, cities, users = RECORD_TABLES[BOOKS], RECORD_TABLES[CITIES], RECORD_TABLES[USERS]
# Serves "biggest" straight from the index: population descending, ties by name ascending.
Index("ix_cities_tenant_id_population_name", cities.c.tenant_id, cities.c.population.desc(),
      cities.c.name)

# Idempotency records of a scope: a tenant's id, or the operator's nil UUID, which is no tenant,
# hence no foreign key (deleting a tenant deletes its records explicitly). Only hashes of the
# key and of the request, and the answer sealed under the key; `status` and `response` stay
# NULL while the first request runs. Purged scope by scope through (tenant_id, expires_at).
idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("tenant_id", Uuid, primary_key=True),
    Column("key_hash", String(64), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("response", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "tenant_id", "expires_at"),
)

# The append-only log of what makes cached API keys stale (a key revoked or its expiry moved;
# a tenant deleted or changed), which every instance polls by id: UUIDv7s, so "since a moment"
# is a range of the primary key. Ids only, no secrets; not a tenant table (a deleted tenant's
# event outlives it), a reference table on Citus.
key_events = Table(
    "key_events", metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("tenant_id", Uuid, nullable=False),
    Column("key_id", Uuid, nullable=True),
)

# Unique constraints a client can collide with, as (entity kind, field) for domain errors.
UNIQUE_FIELDS = {
    "uq_tenants_slug": ("tenant", "slug"),
    **{f"uq_{resource.collection}_tenant_id_{name}": (resource.kind, name)
       for resource in RESOURCES for name in resource.unique},
}
