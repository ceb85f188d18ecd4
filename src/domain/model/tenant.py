"""Tenants."""

from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import FieldError, InvalidInput
from domain.ids import new_id
from domain.model.rules import Text
from domain.tenancy import TenantId, is_valid_slug

NAME = Text(1, 200)
RATE_RANGE = (0.1, 100_000.0)
BURST_RANGE = (1, 100_000)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A tenant's request budget: `rate` per second on average, bursts of up to `burst`."""

    rate: float
    burst: int

    @classmethod
    def of(cls, rate: object, burst: object) -> "RateLimit":
        errors = []
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not (
                RATE_RANGE[0] <= rate <= RATE_RANGE[1]):
            errors.append(FieldError("rate_limit.rate", "must be a number from 0.1 to 100000"))
        if isinstance(burst, bool) or not isinstance(burst, int) or not (
                BURST_RANGE[0] <= burst <= BURST_RANGE[1]):
            errors.append(FieldError("rate_limit.burst", "must be an integer from 1 to 100000"))
        if errors:
            raise InvalidInput(errors)
        assert isinstance(rate, int | float) and isinstance(burst, int)  # checked just above
        return cls(rate=float(rate), burst=burst)


@dataclass(frozen=True, slots=True)
class Tenant:
    """An owner of records, reached through its API keys."""

    id: TenantId
    slug: str
    name: str
    created_at: datetime
    rate_limit: RateLimit | None = None

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

    def renamed(self, name: str) -> "Tenant":
        problem = NAME.check(name)
        if problem:
            raise InvalidInput([FieldError("name", problem)])
        return replace(self, name=name)

