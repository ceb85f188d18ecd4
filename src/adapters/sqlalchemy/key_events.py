"""The key event feed and the last-used writer, each one short transaction of its own.

The feed reads the `key_events` log by primary key: ids are UUIDv7s, so "every event since a
moment" is one index range scan, `id > id_floor(moment)`. Each poll looks back WINDOW seconds
(an event's id is made before its transaction commits, so a slow commit may land behind a
newer one) and skips the ids it has returned before. Plain SELECTs, so it works the same
behind PgBouncer in transaction mode, on Citus (a reference table: read on the node the
service is connected to) and on SQLite."""

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.tables import key_events
from adapters.sqlalchemy.transactions import Transactions
from adapters.sqlalchemy.unit_of_work import SqlaOperatorUnitOfWork
from domain.ids import id_floor
from domain.model import KeyEvent
from domain.model.api_key import USE_RECORDED_EVERY
from domain.tenancy import TenantId

log = logging.getLogger("catalog.keys")
WINDOW_SECONDS = 60.0

class SqlaKeyEventFeed:
    """KeyEventFeed over the service's engine."""

    def __init__(self, transactions: Transactions,
                 window_seconds: float = WINDOW_SECONDS) -> None:
        self._transactions, self._window = transactions, window_seconds
        self._seen: dict[UUID, None] = {}  # in id order: the oldest are pruned first

    async def poll(self) -> Sequence[KeyEvent]:
        floor = id_floor(int((time.time() - self._window) * 1000))
        statement = (select(key_events).where(key_events.c.id > floor)
                     .order_by(key_events.c.id))
        with translated():
            async with self._transactions.open(None, readonly=True) as transaction:
                rows = (await transaction.execute(statement)).all()
                await transaction.commit()
        fresh = [KeyEvent(row.id, row.kind, TenantId(row.tenant_id), row.key_id)
                 for row in rows if row.id not in self._seen]
        for event in fresh:
            self._seen[event.id] = None
        while self._seen and next(iter(self._seen)) <= floor:
            del self._seen[next(iter(self._seen))]
        return fresh

    async def prune(self, older_than: datetime) -> int:
        floor = id_floor(int(older_than.timestamp() * 1000))
        with translated():
            async with self._transactions.open(None) as transaction:
                result = await transaction.execute(
                    delete(key_events).where(key_events.c.id < floor))
                await transaction.commit()
        return int(result.rowcount or 0)


class SqlaKeyUsageRecorder:
    """KeyUsageRecorder: each write is a background task with a transaction of its own, which
    leaves last_used_at alone when another instance set it within the last minute."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, tenant_id: TenantId, key_id: UUID, at: datetime) -> None:
        task = asyncio.get_running_loop().create_task(self._write(tenant_id, key_id, at),
                                                      name="api-key-last-used")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, tenant_id: TenantId, key_id: UUID, at: datetime) -> None:
        try:
            async with SqlaOperatorUnitOfWork(self._transactions) as uow:
                await uow.api_keys.touch(tenant_id, key_id, at=at,
                                         unless_since=at - USE_RECORDED_EVERY)
                await uow.commit()
        except Exception:
            log.warning("recording when API key %s was last used failed", key_id, exc_info=True)

    async def drain(self) -> None:
        """Wait for the writes in flight (at shutdown, before the pool closes)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
