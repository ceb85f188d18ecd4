"""Idempotency records in the `idempotency_keys` table, one short transaction per call.

On PostgreSQL each transaction enters its scope's rows as a tenant's unit of work does (the
operator's scope is the nil UUID). Purging crosses scopes by a deliberate, narrow path (the
transaction module's `purge`): it sets `app.purge_idempotency`, under which row-level security
shows and deletes expired rows only."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, select, tuple_, update

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.repositories import dialect_insert
from adapters.sqlalchemy.tables import idempotency_keys as t
from adapters.sqlalchemy.tables import tenants
from adapters.sqlalchemy.transactions import Transaction, Transactions
from domain.errors import NotFound, Unavailable
from domain.idempotency import (OPERATOR_SCOPE, Claim, InProgress, Mismatch, PurgeBatch, Started,
                                StoredAnswer)
from domain.tenancy import TenantId

_ATTEMPTS = 5


class SqlaIdempotencyStore:
    """Race-free claims by INSERT … ON CONFLICT DO NOTHING, then a read of the winner's row."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    @asynccontextmanager
    async def _transaction(self, scope_id: UUID | None) -> AsyncIterator[Transaction]:
        """One transaction in `scope_id`'s records, committed when the block ends normally;
        None: the purge's narrow path."""
        tenant = TenantId(scope_id) if scope_id is not None else None
        with translated():
            async with self._transactions.open(tenant, purge=scope_id is None) as transaction:
                yield transaction
                await transaction.commit()

    @staticmethod
    def _key(scope_id: UUID, key_hash: str) -> tuple[object, object]:
        return t.c.tenant_id == scope_id, t.c.key_hash == key_hash

    async def begin(self, scope_id: UUID, key_hash: str, request_hash: str, *, now: datetime,
                    ttl_seconds: float) -> Claim:
        fresh = {"request_hash": request_hash, "status": None, "response": None,
                 "created_at": now, "expires_at": now + timedelta(seconds=ttl_seconds)}
        key = self._key(scope_id, key_hash)
        for _ in range(_ATTEMPTS):
            async with self._transaction(scope_id) as session:
                if scope_id != OPERATOR_SCOPE:
                    await self._lock_tenant(session, scope_id)
                insert = (dialect_insert(session, t)
                          .values(tenant_id=scope_id, key_hash=key_hash, **fresh)
                          .on_conflict_do_nothing(index_elements=["tenant_id", "key_hash"])
                          .returning(t.c.key_hash))
                if (await session.execute(insert)).first() is not None:
                    return Started()
                row = (await session.execute(
                    select(t.c.request_hash, t.c.status, t.c.response, t.c.expires_at)
                    .where(*key))).first()
                if row is None:  # purged since the insert met it: try again
                    continue
                if row.expires_at < now:  # take the expired record over, unless another did
                    taken = await session.execute(update(t).where(*key, t.c.expires_at < now)
                                                  .values(fresh).returning(t.c.key_hash))
                    if taken.first() is not None:
                        return Started()
                    continue
                if row.request_hash != request_hash:
                    return Mismatch()
                if row.status is None:
                    return InProgress()
                return StoredAnswer(row.status, bytes(row.response))
        raise Unavailable("the idempotency key is too contended to claim now")

    @staticmethod
    async def _lock_tenant(session: Transaction, tenant_id: UUID) -> None:
        """What a foreign key would do (the operator's scope is no tenant, so there is none):
        the tenant must exist, and cannot be deleted until this claim commits; its deletion
        then deletes the claim too."""
        found = await session.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)
                                      .with_for_update(key_share=True))
        if found.first() is None:
            raise NotFound("tenant", tenant_id)

    async def renew(self, scope_id: UUID, key_hash: str, *, expires_at: datetime) -> None:
        async with self._transaction(scope_id) as session:
            await session.execute(update(t).where(*self._key(scope_id, key_hash),
                                                  t.c.status.is_(None))
                                  .values(expires_at=expires_at))

    async def complete(self, scope_id: UUID, key_hash: str, status: int, sealed: bytes, *,
                       expires_at: datetime | None = None) -> None:
        answer: dict[str, object] = {"status": status, "response": sealed}
        if expires_at is not None:
            answer["expires_at"] = expires_at
        async with self._transaction(scope_id) as session:
            await session.execute(update(t).where(*self._key(scope_id, key_hash),
                                                  t.c.status.is_(None)).values(answer))

    async def abandon(self, scope_id: UUID, key_hash: str) -> None:
        async with self._transaction(scope_id) as session:
            await session.execute(delete(t).where(*self._key(scope_id, key_hash),
                                                  t.c.status.is_(None)))

    async def purge_expired(self, now: datetime, limit: int, *,
                            resume_from: UUID | None = None) -> PurgeBatch:
        """One statement over the (tenant_id, expires_at) index, in scope order from
        `resume_from`, so that successive batches never scan the same scopes again."""
        expired = select(t.c.tenant_id, t.c.key_hash).where(t.c.expires_at < now)
        if resume_from is not None:
            expired = expired.where(t.c.tenant_id >= resume_from)
        expired = expired.order_by(t.c.tenant_id, t.c.expires_at).limit(limit)
        statement = (delete(t)
                     .where(t.c.expires_at < now,  # checked again on rows taken over meanwhile
                            tuple_(t.c.tenant_id, t.c.key_hash).in_(expired))
                     .returning(t.c.tenant_id))
        async with self._transaction(None) as session:
            scopes = (await session.execute(statement)).scalars().all()
        if len(scopes) < limit:
            return PurgeBatch(len(scopes), None)
        return PurgeBatch(len(scopes), max(scopes))
