"""Idempotency records in the memory store's `idempotency_keys` table, under its lock."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from adapters.memory.store import MemoryStore
from domain.errors import NotFound
from domain.idempotency import OPERATOR_SCOPE, Claim, InProgress, Mismatch, PurgeBatch, Started, StoredAnswer


@dataclass(frozen=True, slots=True)
class _Record:
    tenant_id: UUID  # the scope, named as in every other table for the tenant cascade
    request_hash: str
    created_at: datetime
    expires_at: datetime
    status: int | None = None
    sealed: bytes | None = None


class MemoryIdempotencyStore:
    """The same semantics as the SQL store; each call holds the store's lock throughout."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    @property
    def _rows(self) -> dict[tuple[UUID, str], _Record]:
        rows: dict[tuple[UUID, str], _Record] = self._store.tables["idempotency_keys"]
        return rows

    async def begin(self, scope_id: UUID, key_hash: str, request_hash: str, *, now: datetime,
                    ttl_seconds: float) -> Claim:
        async with self._store.lock:
            if scope_id != OPERATOR_SCOPE and scope_id not in self._store.tables["tenants"]:
                raise NotFound("tenant", scope_id)
            row = self._rows.get((scope_id, key_hash))
            if row is None or row.expires_at < now:
                self._rows[(scope_id, key_hash)] = _Record(
                    scope_id, request_hash, now, now + timedelta(seconds=ttl_seconds))
                return Started()
            if row.request_hash != request_hash:
                return Mismatch()
            if row.status is None or row.sealed is None:
                return InProgress()
            return StoredAnswer(row.status, row.sealed)

    async def renew(self, scope_id: UUID, key_hash: str, *, expires_at: datetime) -> None:
        async with self._store.lock:
            row = self._rows.get((scope_id, key_hash))
            if row is not None and row.status is None:
                self._rows[(scope_id, key_hash)] = replace(row, expires_at=expires_at)

    async def complete(self, scope_id: UUID, key_hash: str, status: int, sealed: bytes, *,
                       expires_at: datetime | None = None) -> None:
        async with self._store.lock:
            row = self._rows.get((scope_id, key_hash))
            if row is not None and row.status is None:
                self._rows[(scope_id, key_hash)] = replace(
                    row, status=status, sealed=sealed, expires_at=expires_at or row.expires_at)

    async def abandon(self, scope_id: UUID, key_hash: str) -> None:
        async with self._store.lock:
            row = self._rows.get((scope_id, key_hash))
            if row is not None and row.status is None:
                del self._rows[(scope_id, key_hash)]

    async def purge_expired(self, now: datetime, limit: int, *,
                            resume_from: UUID | None = None) -> PurgeBatch:
        async with self._store.lock:
            expired = sorted((scope, row.expires_at, key) for (scope, key), row
                             in self._rows.items()
                             if row.expires_at < now and (resume_from is None
                                                          or scope >= resume_from))[:limit]
            for scope, _, key in expired:
                del self._rows[(scope, key)]
        if len(expired) < limit:
            return PurgeBatch(len(expired), None)
        return PurgeBatch(len(expired), expired[-1][0])
