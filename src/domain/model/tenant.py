"""Tenants and their API keys."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.errors import FieldError, InvalidInput
from domain.ids import new_id
from domain.model.rules import Text
from domain.tenancy import TenantId, is_valid_slug

NAME = Text(1, 200)


@dataclass(frozen=True, slots=True)
class Tenant:
    """An owner of records, reached through its API keys."""

    id: TenantId
    slug: str
    name: str
    created_at: datetime

    @classmethod
    def create(cls, slug: str, name: str, now: datetime) -> "Tenant":
        errors = []
        if not isinstance(slug, str) or not is_valid_slug(slug):
            errors.append(FieldError("slug", "must be 3-63 characters of a-z, 0-9 and '-', "
                                             "not starting or ending with '-'"))
        problem = NAME.check(name)
        if problem:
            errors.append(FieldError("name", problem))
        if errors:
            raise InvalidInput(errors)
        return cls(id=TenantId(new_id()), slug=slug, name=name, created_at=now)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: only the hash of its secret is kept."""

    id: UUID
    tenant_id: TenantId
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as shown once to its holder, at creation: `token` is never shown again."""

    id: UUID
    tenant_id: TenantId
    token: str
    created_at: datetime
