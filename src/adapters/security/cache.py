"""An in-process, size-bounded, time-limited cache of resolved API keys."""

import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from domain.model import Principal
from domain.tenancy import TenantId


class TtlCredentialCache:
    """Maps a presented key to its Principal for `ttl` seconds; forget(key_id) and
    forget_tenant(tenant_id) drop entries at once.

    With `stale_after`, entries are trusted only while the key event feed is fresh: when
    the last mark_fresh(stamp) was stamped more than `stale_after` seconds ago (or never), get() finds
    nothing, so every key is looked up in the database until the feed catches up."""

    def __init__(self, ttl: float, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic,
                 stale_after: float | None = None) -> None:
        self._ttl, self._max, self._clock, self._stale_after = ttl, max_entries, clock, stale_after
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._epoch = 0
        self._fresh_at = float("-inf")

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        now = self._clock()
        if self._stale_after is not None and now - self._fresh_at > self._stale_after:
            return None
        expires, principal = entry
        if expires <= now:
            del self._entries[token]
            return None
        return principal

    def epoch(self) -> int:
        return self._epoch

    def put(self, token: str, principal: Principal, epoch: int) -> None:
        if self._ttl <= 0 or epoch != self._epoch:
            return
        self._entries[token] = (self._clock() + self._ttl, principal)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _drop(self, matches: Callable[[Principal], bool]) -> None:
        self._epoch += 1
        for token in [t for t, (_, p) in self._entries.items() if matches(p)]:
            del self._entries[token]

    def forget(self, key_id: UUID) -> None:
        self._drop(lambda principal: principal.key_id == key_id)

    def forget_tenant(self, tenant_id: TenantId) -> None:
        self._drop(lambda principal: principal.tenant_id == tenant_id)

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()

    def stamp(self) -> float:
        return self._clock()

    def mark_fresh(self, stamp: float) -> None:
        self._fresh_at = max(self._fresh_at, stamp)
