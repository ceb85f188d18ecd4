"""The in-process rate limiter: each instance keeps its own buckets."""

import time
from collections.abc import Callable

from domain.model import RateLimit
from domain.ratelimit import Decision, gcra
from domain.tenancy import TenantId


class InMemoryRateLimiter:
    """GCRA buckets in a dict, one per tenant; full buckets are dropped once it grows past
    `max_entries`, so idle tenants cost nothing."""

    def __init__(self, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._tats: dict[TenantId, float] = {}
        self._max, self._clock = max_entries, clock

    async def hit(self, tenant_id: TenantId, limit: RateLimit) -> Decision:
        return self.hit_now(tenant_id, limit)

    def hit_now(self, tenant_id: TenantId, limit: RateLimit) -> Decision:
        now = self._clock()
        decision, self._tats[tenant_id] = gcra(self._tats.get(tenant_id, now), now, limit)
        if len(self._tats) > self._max:
            self._tats = {t: tat for t, tat in self._tats.items() if tat > now}
        return decision

    async def warm(self) -> None:
        """Nothing to prepare."""

    async def close(self) -> None:
        """Nothing to release."""
