"""API keys: a label, scopes, an expiry, and when they were last used; only a hash is kept."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from domain.errors import FieldError, InvalidInput
from domain.model.rules import Text
from domain.model.tenant import RateLimit
from domain.tenancy import TenantId

READ, WRITE = "read", "write"
READ_ONLY: tuple[str, ...] = (READ,)
READ_WRITE: tuple[str, ...] = (READ, WRITE)
KEY_NAME = Text(0, 100)
MAX_LIFETIME = timedelta(days=730)
MAX_ROLL_OVERLAP_SECONDS = 604_800
DEFAULT_ROLL_OVERLAP_SECONDS = 3_600
USE_RECORDED_EVERY = timedelta(seconds=60)


def scopes_of(value: object) -> tuple[str, ...] | None:
    """The canonical scopes for `["read"]` or `["read", "write"]` (any order), else None."""
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        return None
    if len(value) == len(set(value)) and set(value) in ({READ}, {READ, WRITE}):
        return READ_WRITE if WRITE in value else READ_ONLY
    return None


@dataclass(frozen=True, slots=True)
class KeyOptions:
    """What a key's holder chooses: a label, its scopes and when it expires (None: never)."""

    name: str = ""
    scopes: tuple[str, ...] = READ_WRITE
    expires_at: datetime | None = None

    @classmethod
    def checked(cls, now: datetime, *, name: object = "", scopes: object = READ_WRITE,
                expires_at: object = None) -> "KeyOptions":
        """Validated options; InvalidInput naming every bad field."""
        errors = []
        problem = KEY_NAME.check(name)
        if problem:
            errors.append(FieldError("name", problem))
        canonical = scopes_of(scopes)
        if canonical is None:
            errors.append(FieldError("scopes", 'must be ["read"] or ["read", "write"]'))
        if expires_at is not None:
            if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
                errors.append(FieldError("expires_at", "must be a date-time with a time zone"))
            elif not now < expires_at <= now + MAX_LIFETIME:
                errors.append(FieldError("expires_at", "must be in the future and at most "
                                                       "2 years ahead"))
        if errors:
            raise InvalidInput(errors)
        # checked just above: a string, canonical scopes, and no or an aware date-time
        assert isinstance(name, str) and canonical is not None
        assert expires_at is None or isinstance(expires_at, datetime)
        return cls(name=name, scopes=canonical, expires_at=expires_at)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request's key speaks for: its tenant, the key itself, what it may do, until
    when, and the tenant's own rate limit (None: the service's default)."""

    tenant_id: TenantId
    key_id: UUID
    scopes: tuple[str, ...]
    expires_at: datetime | None = None
    rate_limit: RateLimit | None = None

    @property
    def can_write(self) -> bool:
        return WRITE in self.scopes

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: only the hash of its secret is kept."""

    id: UUID
    tenant_id: TenantId
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    name: str = ""
    scopes: tuple[str, ...] = READ_WRITE
    expires_at: datetime | None = None
    last_used_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def principal(self, rate_limit: RateLimit | None = None) -> Principal:
        return Principal(self.tenant_id, self.id, self.scopes, self.expires_at, rate_limit)

    def expiring_by(self, deadline: datetime) -> "ApiKey":
        """This key, expiring at `deadline` unless it already expires sooner."""
        if self.expires_at is not None and self.expires_at <= deadline:
            return self
        return replace(self, expires_at=deadline)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as shown once to its holder, at creation: `token` is never shown again."""

    key: ApiKey
    token: str

    @property
    def id(self) -> UUID:
        return self.key.id

    @property
    def tenant_id(self) -> TenantId:
        return self.key.tenant_id

    @property
    def created_at(self) -> datetime:
        return self.key.created_at


KEY_CHANGED, TENANT_CHANGED = "key", "tenant"


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """Something that makes cached keys stale on every instance: one key changed (revoked,
    its expiry moved), or a whole tenant did (deleted, or changed in a way its keys carry)."""

    id: UUID
    kind: str
    tenant_id: TenantId
    key_id: UUID | None = None
