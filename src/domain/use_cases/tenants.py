"""Operator use cases: tenants and their API keys, and resolving a key to its tenant."""

from dataclasses import replace
from uuid import UUID

from domain.errors import InvalidCredentials, NotFound
from domain.ids import new_id
from domain.model import ApiKey, IssuedKey, Principal, RateLimit, Tenant
from domain.pagination import Page
from domain.ports import (ApiKeyReader, Clock, CredentialCache, KeyHasher, OperatorUnitOfWork,
                          OperatorUnitOfWorkFactory)
from domain.tenancy import TenantId
from domain.tokens import format_token, parse_token


class _OperatorUseCase:
    def __init__(self, uow: OperatorUnitOfWorkFactory, clock: Clock, hasher: KeyHasher,
                 cache: CredentialCache) -> None:
        self._uow, self._clock, self._hasher, self._cache = uow, clock, hasher, cache

    async def _issue(self, uow: OperatorUnitOfWork, tenant_id: TenantId) -> IssuedKey:
        secret, now = self._hasher.new_secret(), self._clock.now()
        key = ApiKey(id=new_id(), tenant_id=tenant_id, secret_hash=self._hasher.hash(secret),
                     created_at=now)
        await uow.api_keys.add(key)
        return IssuedKey(id=key.id, tenant_id=tenant_id, token=format_token(tenant_id, key.id, secret),
                         created_at=now)


class CreateTenant(_OperatorUseCase):
    """Register a tenant and issue its first API key; AlreadyExists on a taken slug."""

    async def __call__(self, slug: str, name: str | None = None, *,
                       rate_limit: RateLimit | None = None) -> tuple[Tenant, IssuedKey]:
        tenant = replace(Tenant.create(slug, slug if name is None else name, self._clock.now()),
                         rate_limit=rate_limit)
        async with self._uow() as uow:
            await uow.tenants.add(tenant)
            issued = await self._issue(uow, tenant.id)
            await uow.commit()
        return tenant, issued


class GetTenant(_OperatorUseCase):
    """The tenant with this id (or slug); NotFound otherwise."""

    async def __call__(self, tenant_id: TenantId | None = None, *, slug: str | None = None) -> Tenant:
        async with self._uow() as uow:
            if slug is not None:
                tenant = await uow.tenants.get_by_slug(slug)
            else:
                tenant = await uow.tenants.get(tenant_id) if tenant_id else None
        if tenant is None:
            raise NotFound("tenant", slug if slug is not None else tenant_id)
        return tenant


class UpdateTenant(_OperatorUseCase):
    """Rename the tenant and/or set its own rate limit (None: the defaults); NotFound when
    missing. This instance forgets the tenant's cached keys at once, so the change applies
    here on the next request."""

    _UNSET = object()

    async def __call__(self, tenant_id: TenantId, *, name: str | None = None,
                       rate_limit: RateLimit | None | object = _UNSET) -> Tenant:
        async with self._uow() as uow:
            tenant = await uow.tenants.get(tenant_id)
            if tenant is None:
                raise NotFound("tenant", tenant_id)
            if name is not None:
                tenant = tenant.renamed(name)
            if rate_limit is not self._UNSET:
                tenant = replace(tenant, rate_limit=rate_limit)
            await uow.tenants.update(tenant)
            await uow.commit()
        self._cache.forget_tenant(tenant_id)
        return tenant


class ListTenants(_OperatorUseCase):
    """One keyset page of tenants in creation order."""

    async def __call__(self, *, after: UUID | None, limit: int) -> Page[Tenant]:
        async with self._uow() as uow:
            rows = await uow.tenants.list(after=after, limit=limit + 1)
        return Page.from_overfetch(rows, limit, lambda tenant: tenant.id)


class DeleteTenant(_OperatorUseCase):
    """Delete the tenant with all its records and keys; NotFound when missing."""

    async def __call__(self, tenant_id: TenantId) -> None:
        async with self._uow() as uow:
            if not await uow.tenants.delete(tenant_id):
                raise NotFound("tenant", tenant_id)
            await uow.commit()
        self._cache.clear()


class IssueApiKey(_OperatorUseCase):
    """A new API key for the tenant, shown once; NotFound when the tenant is missing."""

    async def __call__(self, tenant_id: TenantId) -> IssuedKey:
        async with self._uow() as uow:
            if await uow.tenants.get(tenant_id) is None:
                raise NotFound("tenant", tenant_id)
            issued = await self._issue(uow, tenant_id)
            await uow.commit()
        return issued


class RevokeApiKey(_OperatorUseCase):
    """Revoke one of the tenant's keys, at once on this instance; NotFound when missing."""

    async def __call__(self, tenant_id: TenantId, key_id: UUID) -> None:
        async with self._uow() as uow:
            if not await uow.api_keys.revoke(tenant_id, key_id, now=self._clock.now()):
                raise NotFound("api key", key_id)
            await uow.commit()
        self._cache.forget(key_id)


class KeysInUnitOfWork:
    """An ApiKeyReader for any store: each lookup in an operator unit of work of its own."""

    def __init__(self, uow: OperatorUnitOfWorkFactory) -> None:
        self._uow = uow

    async def get(self, tenant_id: TenantId, key_id: UUID,
                  ) -> tuple[ApiKey, RateLimit | None] | None:
        async with self._uow() as uow:
            key = await uow.api_keys.get(tenant_id, key_id)
            tenant = await uow.tenants.get(tenant_id) if key is not None else None
        return (key, tenant.rate_limit) if key is not None and tenant is not None else None


class Authenticate(_OperatorUseCase):
    """The tenant a presented API key belongs to (`principal`: with its rate limit);
    InvalidCredentials when bad or revoked."""

    def __init__(self, uow: OperatorUnitOfWorkFactory, clock: Clock, hasher: KeyHasher,
                 cache: CredentialCache, keys: ApiKeyReader | None = None) -> None:
        super().__init__(uow, clock, hasher, cache)
        self._keys = keys or KeysInUnitOfWork(uow)

    async def __call__(self, token: str) -> TenantId:
        return (await self.principal(token)).tenant_id

    async def principal(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        parsed = parse_token(token)
        if parsed is None:
            raise InvalidCredentials()
        tenant_id, key_id, secret = parsed
        found = await self._keys.get(TenantId(tenant_id), key_id)
        if found is None:
            raise InvalidCredentials()
        key, rate_limit = found
        if key.revoked_at is not None or not self._hasher.verify(secret, key.secret_hash):
            raise InvalidCredentials()
        principal = Principal(key.tenant_id, rate_limit)
        self._cache.put(token, key.id, principal)
        return principal
