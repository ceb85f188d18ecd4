"""Create, read, list, update and delete of tenant-owned records, for any resource kind.

Each use case is one object for every kind: the caller names the kind (`BOOKS`, `CITIES`,
`USERS`, ...) with each call, and gets that kind's entity back."""

from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from domain.errors import NotFound, VersionMismatch
from domain.model import Record, Resource
from domain.pagination import Page
from domain.ports import Clock, RecordRepository, UnitOfWorkFactory
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)


async def save_changed(repository: RecordRepository[R], current: R,
                       changes: Mapping[str, object], now: datetime) -> R:
    """Write `current` with `changes`, one version later (`Record.changed`); VersionMismatch
    when the stored record is no longer `current`'s version."""
    updated = current.changed(dict(changes), now)
    if not await repository.save(updated, expected_version=current.version):
        raise VersionMismatch(current.KIND, current.version, current.version + 1)
    return updated


class _RecordUseCase:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock


class CreateRecord(_RecordUseCase):
    """Validate and store a new record; AlreadyExists when a unique field is taken."""

    async def __call__(self, resource: Resource[R], tenant_id: TenantId,
                       fields: Mapping[str, object]) -> R:
        record = resource.entity.create(tenant_id, self._clock.now(), **fields)
        async with self._uow(tenant_id) as uow:
            await uow.records(resource).add(record)
            await uow.commit()
        return record


class GetRecord(_RecordUseCase):
    """The tenant's record with this id; NotFound otherwise."""

    async def __call__(self, resource: Resource[R], tenant_id: TenantId, record_id: UUID) -> R:
        async with self._uow(tenant_id) as uow:
            record = await uow.records(resource).get(record_id)
        if record is None:
            raise NotFound(resource.kind, record_id)
        return record


class ListRecords(_RecordUseCase):
    """One keyset page of the tenant's records in creation order, optionally filtered."""

    async def __call__(self, resource: Resource[R], tenant_id: TenantId, *, after: UUID | None,
                       limit: int, filters: Mapping[str, object] | None = None) -> Page[R]:
        async with self._uow(tenant_id) as uow:
            rows = await uow.records(resource).list(after=after, limit=limit + 1,
                                                    filters=filters)
        return Page.from_overfetch(rows, limit, lambda record: record.id)


class UpdateRecord(_RecordUseCase):
    """Change some fields, one version later; VersionMismatch when If-Match is stale.

    The record is read and held for update, checked, changed by `Record.changed` (the one
    versioning rule) and written back, all in one unit of work."""

    async def __call__(self, resource: Resource[R], tenant_id: TenantId, record_id: UUID,
                       changes: Mapping[str, object], *, expected_version: int | None = None) -> R:
        resource.entity.check_changes(dict(changes))
        async with self._uow(tenant_id) as uow:
            repository = uow.records(resource)
            current = await repository.get(record_id, for_update=bool(changes))
            if current is None:
                raise NotFound(resource.kind, record_id)
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatch(resource.kind, expected_version, current.version)
            if not changes:
                return current
            updated = await save_changed(repository, current, changes, self._clock.now())
            await uow.commit()
        return updated


class DeleteRecord(_RecordUseCase):
    """Delete the record; NotFound when missing, VersionMismatch when If-Match is stale."""

    async def __call__(self, resource: Resource[R], tenant_id: TenantId, record_id: UUID, *,
                       expected_version: int | None = None) -> None:
        async with self._uow(tenant_id) as uow:
            repository = uow.records(resource)
            if not await repository.delete(record_id, expected_version=expected_version):
                current = await repository.get(record_id)
                if current is None:
                    raise NotFound(resource.kind, record_id)
                raise VersionMismatch(resource.kind, expected_version or 0, current.version)
            await uow.commit()
