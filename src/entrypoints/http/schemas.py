"""Request and response bodies: strict JSON, unknown fields refused, text a store can hold."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import GenericAlias
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      StringConstraints, create_model)

from domain.model import Record, Resource, User
from domain.model.rules import TEXT_PATTERN, Rule, Text, text_problem
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


def field_type(rule: Rule) -> Any:
    """The request type of a field with this rule: its limits, in the schema and checked."""
    if isinstance(rule, Text):
        return Annotated[str, StringConstraints(min_length=rule.min_length or None,
                                                max_length=rule.max_length),
                         _NO_CONTROLS, AfterValidator(_storable)]
    return Annotated[int, Field(ge=rule.minimum, le=rule.maximum), BeforeValidator(_whole)]


Name = field_type(User.RULES["name"])
FullName = field_type(User.RULES["full_name"])
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


class UserDefaults(Body):
    full_name: FullName = ""


class UserFullName(Body):
    full_name: FullName


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


@dataclass(frozen=True)
class RecordSchemas:
    """A resource's four bodies, named after its entity: `BookIn` (create, and PUT),
    `BookPatch` (every field optional), `BookOut` and `BookPage`."""

    create: type[Body]
    patch: type[Body]
    out: type[RecordOut]
    page: type[Out]


@cache
def schemas_for(resource: Resource[Record]) -> RecordSchemas:
    """The bodies of one resource, built from its fields' rules (once: each name is unique
    in the OpenAPI document)."""
    rules, name = resource.rules, resource.name
    create: dict[str, Any] = {
        field: (field_type(rule), resource.defaults.get(field, ...)) for field, rule in rules.items()}
    patch: dict[str, Any] = {field: (field_type(rule), None) for field, rule in rules.items()}
    out: dict[str, Any] = {
        field: (str if isinstance(rule, Text) else int, ...) for field, rule in rules.items()}
    out_model = create_model(f"{name}Out", __base__=RecordOut, **out)
    return RecordSchemas(
        create=create_model(f"{name}In", __base__=Body, **create),
        patch=create_model(f"{name}Patch", __base__=Body, **patch),
        out=out_model,
        page=create_model(f"{name}Page", __base__=Out, items=(GenericAlias(list, (out_model,)), ...),
                          next_cursor=(str | None, ...)))
