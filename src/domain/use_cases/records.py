"""Create, read, list, update and delete of tenant-owned records (books, cities, users)."""

from collections.abc import Mapping
from typing import Generic, TypeVar
from uuid import UUID

from domain.errors import NotFound, VersionMismatch
from domain.model import Record
from domain.pagination import Page
from domain.ports import Clock, RecordRepository, UnitOfWork, UnitOfWorkFactory
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)


class _RecordUseCase(Generic[R]):
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, entity: type[R],
                 collection: str) -> None:
        self._uow, self._clock, self._entity, self._collection = uow, clock, entity, collection

    def _repo(self, uow: UnitOfWork) -> RecordRepository[R]:
        return getattr(uow, self._collection)  # type: ignore[no-any-return]

    def _not_found(self, record_id: object) -> NotFound:
        return NotFound(self._entity.KIND, record_id)


class CreateRecord(_RecordUseCase[R]):
    """Validate and store a new record; AlreadyExists when a unique field is taken."""

    async def __call__(self, tenant_id: TenantId, fields: Mapping[str, object]) -> R:
        record = self._entity.create(tenant_id, self._clock.now(), **fields)
        async with self._uow(tenant_id) as uow:
            await self._repo(uow).add(record)
            await uow.commit()
        return record


class GetRecord(_RecordUseCase[R]):
    """The tenant's record with this id; NotFound otherwise."""

    async def __call__(self, tenant_id: TenantId, record_id: UUID) -> R:
        async with self._uow(tenant_id) as uow:
            record = await self._repo(uow).get(record_id)
        if record is None:
            raise self._not_found(record_id)
        return record


class ListRecords(_RecordUseCase[R]):
    """One keyset page of the tenant's records in creation order, optionally filtered."""

    async def __call__(self, tenant_id: TenantId, *, after: UUID | None, limit: int,
                       filters: Mapping[str, object] | None = None) -> Page[R]:
        async with self._uow(tenant_id) as uow:
            rows = await self._repo(uow).list(after=after, limit=limit + 1, filters=filters)
        return Page.from_overfetch(rows, limit, lambda record: record.id)


class UpdateRecord(_RecordUseCase[R]):
    """Change some fields and bump the version; VersionMismatch when If-Match is stale."""

    async def __call__(self, tenant_id: TenantId, record_id: UUID,
                       changes: Mapping[str, object], *, expected_version: int | None = None) -> R:
        self._entity.check_changes(dict(changes))
        async with self._uow(tenant_id) as uow:
            repo = self._repo(uow)
            updated = None
            if changes:
                updated = await repo.update(record_id, changes, now=self._clock.now(),
                                            expected_version=expected_version)
            if updated is None:
                current = await repo.get(record_id)
                if current is None:
                    raise self._not_found(record_id)
                if expected_version is not None and current.version != expected_version:
                    raise VersionMismatch(self._entity.KIND, expected_version, current.version)
                if changes:  # pragma: no cover - the row changed between update and get
                    raise VersionMismatch(self._entity.KIND, current.version, current.version)
                return current
            await uow.commit()
        return updated


class DeleteRecord(_RecordUseCase[R]):
    """Delete the record; NotFound when missing, VersionMismatch when If-Match is stale."""

    async def __call__(self, tenant_id: TenantId, record_id: UUID, *,
                       expected_version: int | None = None) -> None:
        async with self._uow(tenant_id) as uow:
            repo = self._repo(uow)
            if not await repo.delete(record_id, expected_version=expected_version):
                current = await repo.get(record_id)
                if current is None:
                    raise self._not_found(record_id)
                raise VersionMismatch(self._entity.KIND, expected_version or 0, current.version)
            await uow.commit()
