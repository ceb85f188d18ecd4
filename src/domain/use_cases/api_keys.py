"""API keys: issue, list, read, revoke and roll them; resolve a presented key to its Principal."""

from datetime import datetime, timedelta
from uuid import UUID

from domain.errors import Conflict, InvalidCredentials, NotFound
from domain.ids import new_id
from domain.model import ApiKey, IssuedKey, KeyOptions, Principal, RateLimit
from domain.model.api_key import DEFAULT_ROLL_OVERLAP_SECONDS, USE_RECORDED_EVERY
from domain.pagination import Page
from domain.ports import (ApiKeyReader, Clock, CredentialCache, KeyHasher, KeyUsageRecorder,
                          OperatorUnitOfWork, OperatorUnitOfWorkFactory)
from domain.tenancy import TenantId
from domain.tokens import format_token, parse_token
from domain.use_cases.key_events import apply, key_changed


async def issue_key(uow: OperatorUnitOfWork, hasher: KeyHasher, now: datetime,
                    tenant_id: TenantId, options: KeyOptions) -> IssuedKey:
    """Store a new key for the tenant (in `uow`) and return it with its secret."""
    secret = hasher.new_secret()
    key = ApiKey(id=new_id(), tenant_id=tenant_id, secret_hash=hasher.hash(secret),
                 created_at=now, name=options.name, scopes=options.scopes,
                 expires_at=options.expires_at)
    await uow.api_keys.add(key)
    return IssuedKey(key, format_token(tenant_id, key.id, secret))


class _KeyUseCase:
    def __init__(self, uow: OperatorUnitOfWorkFactory, clock: Clock, hasher: KeyHasher,
                 cache: CredentialCache) -> None:
        self._uow, self._clock, self._hasher, self._cache = uow, clock, hasher, cache

    async def _live_tenant(self, uow: OperatorUnitOfWork, tenant_id: TenantId) -> None:
        if await uow.tenants.get(tenant_id) is None:
            raise NotFound("tenant", tenant_id)


class IssueApiKey(_KeyUseCase):
    """A new API key for the tenant, shown once; NotFound when the tenant is missing,
    InvalidInput for bad options."""

    async def __call__(self, tenant_id: TenantId, *, name: object = "",
                       scopes: object = None, expires_at: object = None) -> IssuedKey:
        now = self._clock.now()
        options = KeyOptions.checked(now, name=name, expires_at=expires_at,
                                     **({} if scopes is None else {"scopes": scopes}))
        async with self._uow() as uow:
            await self._live_tenant(uow, tenant_id)
            issued = await issue_key(uow, self._hasher, now, tenant_id, options)
            await uow.commit()
        return issued


class ListApiKeys(_KeyUseCase):
    """One keyset page of the tenant's keys, revoked ones included; NotFound for no tenant."""

    async def __call__(self, tenant_id: TenantId, *, after: UUID | None,
                       limit: int) -> Page[ApiKey]:
        async with self._uow() as uow:
            await self._live_tenant(uow, tenant_id)
            rows = await uow.api_keys.list(tenant_id, after=after, limit=limit + 1)
        return Page.from_overfetch(rows, limit, lambda key: key.id)


class GetApiKey(_KeyUseCase):
    """One of the tenant's keys (also when revoked); NotFound otherwise."""

    async def __call__(self, tenant_id: TenantId, key_id: UUID) -> ApiKey:
        async with self._uow() as uow:
            key = await uow.api_keys.get(tenant_id, key_id)
        if key is None:
            raise NotFound("api key", key_id)
        return key


class RevokeApiKey(_KeyUseCase):
    """Revoke one of the tenant's keys: at once here, within seconds on every instance.
    Revoking a revoked key changes nothing; NotFound when the tenant has no such key."""

    async def __call__(self, tenant_id: TenantId, key_id: UUID) -> None:
        event = key_changed(tenant_id, key_id)
        async with self._uow() as uow:
            # The event goes first in every transaction that publishes one: on Citus a
            # reference table (the log) may not be written after a distributed table was.
            await uow.key_events.publish(event)
            if not await uow.api_keys.revoke(tenant_id, key_id, now=self._clock.now()):
                if await uow.api_keys.get(tenant_id, key_id) is None:
                    raise NotFound("api key", key_id)
                return  # already revoked: nothing to commit
            await uow.commit()
        apply(self._cache, event)


class RollApiKey(_KeyUseCase):
    """A new key with the rolled key's name and scopes; the rolled key keeps working for
    `expires_in` more seconds (0: it stops now), or until it expires if that comes first.
    NotFound for no such key; Conflict when it is revoked or expired."""

    async def __call__(self, tenant_id: TenantId, key_id: UUID,
                       expires_in: int = DEFAULT_ROLL_OVERLAP_SECONDS) -> IssuedKey:
        now = self._clock.now()
        event = key_changed(tenant_id, key_id)
        async with self._uow() as uow:
            await uow.key_events.publish(event)  # first: see RevokeApiKey
            old = await uow.api_keys.get(tenant_id, key_id)
            if old is None:
                raise NotFound("api key", key_id)
            if not old.is_live(now):
                raise Conflict("the api key is revoked or expired: issue a new one instead")
            rolled = old.expiring_by(now + timedelta(seconds=expires_in))
            if rolled.expires_at is not None and rolled.expires_at != old.expires_at:
                await uow.api_keys.expire(tenant_id, key_id, at=rolled.expires_at)
            issued = await issue_key(uow, self._hasher, now, tenant_id,
                                     KeyOptions(name=old.name, scopes=old.scopes))
            await uow.commit()
        apply(self._cache, event)
        return issued


class Authenticate(_KeyUseCase):
    """The Principal of a presented API key, with its tenant's own rate limit; InvalidCredentials
    when it is malformed, unknown, revoked or expired. Notes each key's use at most once a
    minute per instance."""

    def __init__(self, uow: OperatorUnitOfWorkFactory, clock: Clock, hasher: KeyHasher,
                 cache: CredentialCache, *, keys: ApiKeyReader,
                 usage: KeyUsageRecorder | None = None) -> None:
        super().__init__(uow, clock, hasher, cache)
        self._keys, self._usage = keys, usage
        self._noted: dict[UUID, datetime] = {}

    async def __call__(self, token: str) -> Principal:
        now = self._clock.now()
        principal = self._cache.get(token)
        if principal is None:
            principal = await self._look_up(token, now)
        elif principal.expired(now):
            self._cache.forget(principal.key_id)
            raise InvalidCredentials()
        self._note_use(principal, now)
        return principal

    async def _look_up(self, token: str, now: datetime) -> Principal:
        parsed = parse_token(token)
        if parsed is None:
            raise InvalidCredentials()
        tenant_id, key_id, secret = parsed
        epoch = self._cache.epoch()
        found = await self._keys.credentials(TenantId(tenant_id), key_id)
        if found is None:
            raise InvalidCredentials()
        key, rate_limit = found
        if not key.is_live(now) or not self._hasher.verify(secret, key.secret_hash):
            raise InvalidCredentials()
        if key.last_used_at is not None and key.id not in self._noted:
            self._noted[key.id] = key.last_used_at
        principal = key.principal(rate_limit)
        self._cache.put(token, principal, epoch)
        return principal

    def _note_use(self, principal: Principal, now: datetime) -> None:
        if self._usage is None:
            return
        noted = self._noted.get(principal.key_id)
        if noted is not None and now - noted < USE_RECORDED_EVERY:
            return
        if len(self._noted) >= 100_000:
            self._noted.clear()
        self._noted[principal.key_id] = now
        self._usage.record(principal.tenant_id, principal.key_id, now)
