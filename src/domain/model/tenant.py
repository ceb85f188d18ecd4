"""Tenants."""

from dataclasses import dataclass
from datetime import datetime

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
