"""The per-instance cap on one tenant's requests in flight."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from domain.tenancy import TenantId


class _Gate:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore, self.users = asyncio.Semaphore(limit), 0


class TenantConcurrency:
    """At most `limit` requests of one tenant at once; a request past it waits (holding
    nothing else) at most `queue_timeout` seconds. Idle tenants keep no state."""

    def __init__(self, limit: int, queue_timeout: float) -> None:
        self.limit, self.queue_timeout = limit, queue_timeout
        self._gates: dict[TenantId, _Gate] = {}

    @asynccontextmanager
    async def slot(self, tenant_id: TenantId) -> AsyncIterator[bool]:
        """Yields True once the request holds one of its tenant's slots, or False when none
        came free in time (the slot is then not held)."""
        gate = self._gates.get(tenant_id)
        if gate is None:
            gate = self._gates[tenant_id] = _Gate(self.limit)
        gate.users += 1
        try:
            if gate.semaphore.locked():  # a free slot is taken at once, with no timer
                try:
                    async with asyncio.timeout(self.queue_timeout):
                        await gate.semaphore.acquire()
                except TimeoutError:
                    yield False
                    return
            else:
                await gate.semaphore.acquire()
            try:
                yield True
            finally:
                gate.semaphore.release()
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[tenant_id]
