"""Ports: what the domain needs from the outside world, as Protocols named for their role."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar
from uuid import UUID

from domain.idempotency import Claim, PurgeBatch, SavedResponse
from domain.model import (ApiKey, City, KeyEvent, Principal, RateLimit, Record, Resource, Tenant,
                          User)
from domain.ratelimit import Decision
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)


class Clock(Protocol):
    """Tells the current time, timezone-aware and in UTC."""

    def now(self) -> datetime: ...


class KeyHasher(Protocol):
    """Makes API key secrets and their one-way hashes, and checks a secret against a hash."""

    def new_secret(self) -> str: ...

    def hash(self, secret: str) -> str: ...

    def verify(self, secret: str, secret_hash: str) -> bool: ...


class RecordRepository(Protocol[R]):
    """One tenant's records of one kind; every call is scoped to the unit of work's tenant."""

    async def add(self, record: R) -> None:
        """Store a new record; raise AlreadyExists when a unique field is taken."""

    async def get(self, record_id: UUID, *, for_update: bool = False) -> R | None:
        """The record with this id, or None (also when another tenant owns it). `for_update`
        holds it against other writers until the unit of work ends."""

    async def list(self, *, after: UUID | None, limit: int,
                   filters: Mapping[str, object] | None = None) -> Sequence[R]:
        """Up to `limit` records with id greater than `after`, in creation (id) order."""

    async def save(self, record: R, *, expected_version: int) -> bool:
        """Store `record` (a changed copy of a stored one) over the stored record with its id,
        if that is still at `expected_version`; False otherwise. AlreadyExists when a unique
        field is taken."""

    async def delete(self, record_id: UUID, *, expected_version: int | None) -> bool:
        """Delete the record; False when missing or not at expected_version."""


class UserRepository(RecordRepository[User], Protocol):
    """Users of one tenant; names are unique within it."""

    async def get_by_name(self, name: str) -> User | None:
        """The user with this name, or None."""

    async def get_or_add(self, user: User) -> tuple[User, bool]:
        """Insert `user` unless its name exists; return the stored user and whether it was new.
        An existing user is returned held for update, as `get(..., for_update=True)` holds it.

        Race-free: concurrent callers with one new name all get the same single user."""


class CityReader(Protocol):
    """Read-only queries over one tenant's cities, each a consistent snapshot of its own."""

    async def biggest(self, tenant_id: TenantId, limit: int) -> Sequence[City]:
        """The `limit` most populated cities, ties broken by name ascending."""


class UnitOfWork(Protocol):
    """One atomic transaction for one tenant: leaving without commit() rolls back."""

    tenant_id: TenantId
    users: UserRepository

    def records(self, resource: Resource[R]) -> RecordRepository[R]:
        """The repository of one resource kind, in this unit of work."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work scoped to one tenant."""

    def __call__(self, tenant_id: TenantId) -> UnitOfWork: ...


class TenantRepository(Protocol):
    """The registry of tenants (operator scope, not tenant-scoped)."""

    async def add(self, tenant: Tenant) -> None:
        """Store a new tenant; raise AlreadyExists on a taken slug."""

    async def get(self, tenant_id: TenantId) -> Tenant | None: ...

    async def get_by_slug(self, slug: str) -> Tenant | None: ...

    async def update(self, tenant: Tenant) -> bool:
        """Store the tenant's new name and rate limit; False when it is missing."""

    async def list(self, *, after: UUID | None, limit: int) -> Sequence[Tenant]:
        """Up to `limit` tenants with id greater than `after`, in creation order."""

    async def delete(self, tenant_id: TenantId) -> bool:
        """Delete the tenant with every record, key and idempotency record it owns; False
        when missing."""


class ApiKeyRepository(Protocol):
    """API keys, each found by its tenant and its own id."""

    async def add(self, key: ApiKey) -> None: ...

    async def get(self, tenant_id: TenantId, key_id: UUID) -> ApiKey | None: ...

    async def list(self, tenant_id: TenantId, *, after: UUID | None,
                   limit: int) -> Sequence[ApiKey]:
        """Up to `limit` of the tenant's keys (revoked ones too) with id greater than `after`,
        in creation (id) order."""

    async def revoke(self, tenant_id: TenantId, key_id: UUID, *, now: datetime) -> bool:
        """Mark the tenant's key revoked; False when it has no such live key."""

    async def expire(self, tenant_id: TenantId, key_id: UUID, *, at: datetime) -> None:
        """Set the key's expiry to `at`."""

    async def touch(self, tenant_id: TenantId, key_id: UUID, *, at: datetime,
                    unless_since: datetime) -> None:
        """Set last_used_at to `at` unless it is already at or after `unless_since`."""


class ApiKeyReader(Protocol):
    """The question authentication asks on a cache miss, outside any unit of work."""

    async def credentials(self, tenant_id: TenantId, key_id: UUID,
                          ) -> tuple[ApiKey, RateLimit | None] | None:
        """The tenant's key with this id, and the tenant's own rate limit; None when either
        is gone."""


class KeyEventLog(Protocol):
    """The append-only log of key events, written in the operator's unit of work, so that an
    event exists exactly when the change that caused it was committed."""

    async def publish(self, event: KeyEvent) -> None: ...


class KeyEventFeed(Protocol):
    """Every instance's view of the key event log, read outside any unit of work."""

    async def poll(self) -> Sequence[KeyEvent]:
        """The events committed since the previous poll (on the first poll: recent ones);
        each event is returned once."""

    async def prune(self, older_than: datetime) -> int:
        """Delete events older than `older_than`; how many went."""


class KeyUsageRecorder(Protocol):
    """Writes a key's last_used_at outside the request's own transaction."""

    def record(self, tenant_id: TenantId, key_id: UUID, at: datetime) -> None:
        """Schedule the write and return at once; a failed write is logged, never raised."""


class OperatorUnitOfWork(Protocol):
    """One atomic transaction over the tenant registry and its keys."""

    tenants: TenantRepository
    api_keys: ApiKeyRepository
    key_events: KeyEventLog

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


class OperatorUnitOfWorkFactory(Protocol):
    """Opens an operator unit of work."""

    def __call__(self) -> OperatorUnitOfWork: ...


class CredentialCache(Protocol):
    """A map from presented key to its Principal, kept until its lifetime ends or a key event
    drops it. `epoch()` changes with every drop: `put` with an older epoch stores nothing, so
    a lookup that raced a revocation can never cache what it read before it."""

    def get(self, token: str) -> Principal | None: ...

    def epoch(self) -> int: ...

    def put(self, token: str, principal: Principal, epoch: int) -> None: ...

    def forget(self, key_id: UUID) -> None: ...

    def forget_tenant(self, tenant_id: TenantId) -> None: ...

    def clear(self) -> None: ...

    def stamp(self) -> float:
        """An opaque moment on the cache's own clock."""

    def mark_fresh(self, stamp: float) -> None:
        """Every key event committed before `stamp` has been applied."""


class IdempotencyStore(Protocol):
    """Idempotency records, one per (scope, key hash); every call is one short transaction."""

    async def begin(self, scope_id: UUID, key_hash: str, request_hash: str, *, now: datetime,
                    ttl_seconds: float) -> Claim:
        """Claim the key for this request, race-free among concurrent callers.

        Started when the key is new or its record expired (it is then in progress until
        complete() or abandon(), for `ttl_seconds`: the claim's lease, which renew()
        extends); else Mismatch for another request_hash, InProgress while the first
        request runs, or the StoredAnswer. An in-progress record is never taken over before
        it expires. A tenant's scope that names no tenant is NotFound, and writes nothing."""

    async def renew(self, scope_id: UUID, key_hash: str, *, expires_at: datetime) -> None:
        """Extend the lease of the claim in progress under this key (an answered one stays)."""

    async def complete(self, scope_id: UUID, key_hash: str, status: int, sealed: bytes, *,
                       expires_at: datetime | None = None) -> None:
        """Record the answer of the request in progress under this key, kept until
        `expires_at` (None: the claim's own expiry)."""

    async def abandon(self, scope_id: UUID, key_hash: str) -> None:
        """Forget the record while it is in progress, so that a retry runs the request again."""

    async def purge_expired(self, now: datetime, limit: int, *,
                            resume_from: UUID | None = None) -> PurgeBatch:
        """Delete up to `limit` records expired by `now`, scope by scope from `resume_from`."""


class IdempotencyCipher(Protocol):
    """Hashes idempotency keys and requests, and seals answers under a key derived from the
    idempotency key itself: the store learns neither the key nor the answer."""

    def key_hash(self, scope_id: UUID, key: str) -> str: ...

    def request_hash(self, scope_id: UUID, key: str, request: Sequence[bytes]) -> str: ...

    def seal(self, scope_id: UUID, key: str, response: SavedResponse) -> bytes: ...

    def open(self, scope_id: UUID, key: str, sealed: bytes) -> SavedResponse | None:
        """The sealed answer, or None when it was not sealed under this key or was altered."""


class RateLimiter(Protocol):
    """Takes one token from a tenant's bucket, or says when to come back."""

    async def hit(self, tenant_id: TenantId, limit: RateLimit) -> Decision: ...
