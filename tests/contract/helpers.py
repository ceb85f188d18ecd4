"""Entities for the contract suite, made as the use cases make them."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.model import Book, City, User
from domain.tenancy import TenantId


def utcnow() -> datetime:
    return datetime.now(UTC)


class SteppingClock:
    """A Clock for the use cases that moves only when told to: `now()` is exact."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or utcnow()

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def book(tenant_id: TenantId, **fields: object) -> Book:
    return Book.create(tenant_id, utcnow(), **{"name": "Dune", "author": "Frank Herbert",
                                               "release_year": 1965, **fields})


def city(tenant_id: TenantId, name: str = "Oslo", population: int = 700_000) -> City:
    return City.create(tenant_id, utcnow(), name=name, population=population)


def user(tenant_id: TenantId, name: str = "ada", full_name: str = "Ada Lovelace") -> User:
    return User.create(tenant_id, utcnow(), name=name, full_name=full_name)


def assert_utc(moment: datetime | None) -> None:
    assert moment is not None
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0), moment


def assert_plain(entity: object) -> None:
    """Every id is a uuid.UUID that equals, hashes and orders as the plain one and renders to
    JSON (asyncpg's own subclass is kept as it comes: converting every id costs each read)."""
    from entrypoints.http.json import dumps

    for name in ("id", "tenant_id"):
        if hasattr(entity, name):
            value = getattr(entity, name)
            plain = UUID(int=value.int)
            assert isinstance(value, UUID), (name, type(value))
            assert value == plain and hash(value) == hash(plain) and not value < plain
            assert dumps(value) == dumps(str(plain))
