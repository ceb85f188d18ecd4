"""Operator use cases: tenants (their keys are in api_keys)."""

from dataclasses import replace
from uuid import UUID

from domain.errors import NotFound
from domain.model import IssuedKey, KeyOptions, RateLimit, Tenant
from domain.pagination import Page
from domain.ports import Clock, CredentialCache, KeyHasher, OperatorUnitOfWorkFactory
from domain.tenancy import TenantId
from domain.use_cases.api_keys import issue_key
from domain.use_cases.key_events import apply, tenant_changed


class _OperatorUseCase:
    def __init__(self, uow: OperatorUnitOfWorkFactory, clock: Clock, hasher: KeyHasher,
                 cache: CredentialCache) -> None:
        self._uow, self._clock, self._hasher, self._cache = uow, clock, hasher, cache


class CreateTenant(_OperatorUseCase):
    """Register a tenant and issue its first API key; AlreadyExists on a taken slug."""

    async def __call__(self, slug: str, name: str | None = None, *,
                       rate_limit: RateLimit | None = None) -> tuple[Tenant, IssuedKey]:
        tenant = replace(Tenant.create(slug, slug if name is None else name, self._clock.now()),
                         rate_limit=rate_limit)
        async with self._uow() as uow:
            await uow.tenants.add(tenant)
            issued = await issue_key(uow, self._hasher, tenant.created_at, tenant.id, KeyOptions())
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
    missing. The tenant's cached keys (which carry its rate limit) are dropped at once here
    and within seconds on every instance, so the change applies everywhere."""

    _UNSET = object()

    async def __call__(self, tenant_id: TenantId, *, name: str | None = None,
                       rate_limit: RateLimit | None | object = _UNSET) -> Tenant:
        event = tenant_changed(tenant_id)
        async with self._uow() as uow:
            await uow.key_events.publish(event)  # first: see RevokeApiKey
            tenant = await uow.tenants.get(tenant_id)
            if tenant is None:
                raise NotFound("tenant", tenant_id)
            if name is not None:
                tenant = tenant.renamed(name)
            if rate_limit is None or isinstance(rate_limit, RateLimit):  # not _UNSET
                tenant = replace(tenant, rate_limit=rate_limit)
            await uow.tenants.update(tenant)
            await uow.commit()
        apply(self._cache, event)
        return tenant


class ListTenants(_OperatorUseCase):
    """One keyset page of tenants in creation order."""

    async def __call__(self, *, after: UUID | None, limit: int) -> Page[Tenant]:
        async with self._uow() as uow:
            rows = await uow.tenants.list(after=after, limit=limit + 1)
        return Page.from_overfetch(rows, limit, lambda tenant: tenant.id)


class DeleteTenant(_OperatorUseCase):
    """Delete the tenant with all its records and keys, which stop working at once here and
    within seconds on every instance; NotFound when missing."""

    async def __call__(self, tenant_id: TenantId) -> None:
        event = tenant_changed(tenant_id)
        async with self._uow() as uow:
            await uow.key_events.publish(event)  # first: see RevokeApiKey
            if not await uow.tenants.delete(tenant_id):
                raise NotFound("tenant", tenant_id)
            await uow.commit()
        apply(self._cache, event)
