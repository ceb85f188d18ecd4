"""What every tenant-owned record has: identity, owner, timestamps and a version."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Self
from uuid import UUID

from domain.ids import new_id
from domain.model.rules import Rule, validate
from domain.tenancy import TenantId


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Base of Book, City and User; `version` starts at 1 and grows by one per change."""

    KIND: ClassVar[str] = "record"
    RULES: ClassVar[dict[str, Rule]] = {}

    id: UUID
    tenant_id: TenantId
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def create(cls, tenant_id: TenantId, now: datetime, **fields: object) -> Self:
        """A new record at version 1, after checking every field against RULES."""
        validate(cls.RULES, fields, partial=False)
        return cls(id=new_id(), tenant_id=tenant_id, created_at=now, updated_at=now, version=1,
                   **fields)

    @classmethod
    def check_changes(cls, changes: dict[str, object]) -> None:
        """Raise InvalidInput unless every change names a known field with a valid value."""
        validate(cls.RULES, changes, partial=True)

    def changed(self, changes: dict[str, object], now: datetime) -> Self:
        """This record with `changes` applied, one version later: the one versioning rule,
        on every store."""
        values: dict[str, Any] = {**changes, "updated_at": now, "version": self.version + 1}
        return replace(self, **values)

    def fields(self) -> dict[str, object]:
        """The record's own fields (those in RULES) and their values."""
        return {name: getattr(self, name) for name in self.RULES}
