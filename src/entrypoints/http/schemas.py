"""Request and response bodies: strict JSON, unknown fields refused, text a store can hold."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      StringConstraints)

from domain.model.rules import INT64_MAX, TEXT_PATTERN, text_problem
from domain.model.tenant import BURST_RANGE, RATE_RANGE
from domain.tenancy import SLUG_PATTERN


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _whole(value: object) -> object:
    """JSON Schema counts 594.0 as an integer: so does the service (594.5 stays refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_NO_CONTROLS = Field(json_schema_extra={"pattern": TEXT_PATTERN})
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), _NO_CONTROLS,
                 AfterValidator(_storable)]
FullName = Annotated[str, StringConstraints(max_length=200), _NO_CONTROLS,
                     AfterValidator(_storable)]
Year = Annotated[int, Field(ge=-5000, le=9999), BeforeValidator(_whole)]
Population = Annotated[int, Field(ge=0, le=INT64_MAX), BeforeValidator(_whole)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=3, max_length=63)]


class Body(BaseModel):
    """A request body: strict types, no unknown fields; absent optional fields stay unset."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def sent(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class Out(BaseModel):
    """Base of response bodies (documentation only: responses are rendered directly)."""


class Status(Out):
    status: str = Field(description="`ok` (alive) or `ready`")


class RecordOut(Out):
    id: UUID
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1)


class BookIn(Body):
    name: Name
    author: Name
    release_year: Year


class BookPatch(Body):
    name: Name = None  # type: ignore[assignment]
    author: Name = None  # type: ignore[assignment]
    release_year: Year = None  # type: ignore[assignment]


class BookOut(RecordOut):
    name: str
    author: str
    release_year: int


class CityIn(Body):
    name: Name
    population: Population


class CityPatch(Body):
    name: Name = None  # type: ignore[assignment]
    population: Population = None  # type: ignore[assignment]


class CityOut(RecordOut):
    name: str
    population: int


class UserIn(Body):
    name: Name
    full_name: FullName = ""


class UserPatch(Body):
    name: Name = None  # type: ignore[assignment]
    full_name: FullName = None  # type: ignore[assignment]


class UserDefaults(Body):
    full_name: FullName = ""


class UserFullName(Body):
    full_name: FullName


class UserOut(RecordOut):
    name: str
    full_name: str


class BookPage(Out):
    items: list[BookOut]
    next_cursor: str | None


class CityPage(Out):
    items: list[CityOut]
    next_cursor: str | None


class UserPage(Out):
    items: list[UserOut]
    next_cursor: str | None


class TenantIn(Body):
    slug: Slug
    name: Name | None = None


class RateLimitIn(Body):
    rate: float = Field(ge=RATE_RANGE[0], le=RATE_RANGE[1],
                        description="requests per second on average")
    burst: int = Field(ge=BURST_RANGE[0], le=BURST_RANGE[1],
                       description="requests at once, when the bucket is full")


class TenantPatch(Body):
    name: Name = None  # type: ignore[assignment]
    rate_limit: RateLimitIn | None = Field(
        None, description="the tenant's own rate limit; null: the service's defaults")


class RateLimitOut(Out):
    rate: float
    burst: int


class TenantOut(Out):
    id: UUID
    slug: str
    name: str
    created_at: datetime
    rate_limit: RateLimitOut | None = Field(
        description="the tenant's own rate limit; null: the service's defaults")


class TenantPage(Out):
    items: list[TenantOut]
    next_cursor: str | None


def _text_only(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


# JSON has no date-time type: RFC 3339 strings (only strings) are parsed here
DateTimeText = Annotated[datetime, BeforeValidator(_text_only), Field(strict=False)]
KeyName = Annotated[str, StringConstraints(max_length=100), AfterValidator(_storable)]
Scope = Literal["read", "write"]


class ApiKeyIn(Body):
    """A new key's options, all optional: scopes default to read and write, and the key
    never expires unless `expires_at` says (in the future, at most 2 years ahead)."""

    name: KeyName = ""
    scopes: list[Scope] = Field(default=["read", "write"], min_length=1, max_length=2,
                                description='["read"] or ["read", "write"]')
    expires_at: DateTimeText | None = None


class ApiKeyRoll(Body):
    expires_in: int = Field(3600, ge=0, le=604_800,
                            description="seconds the rolled key keeps working (0: none)")


class ApiKeyOut(Out):
    id: UUID
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="may lag by up to 60 s")
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret API key; shown only in this response.")


class ApiKeyPage(Out):
    items: list[ApiKeyOut]
    next_cursor: str | None


class TenantCreated(Out):
    tenant: TenantOut
    api_key: ApiKeyCreated
