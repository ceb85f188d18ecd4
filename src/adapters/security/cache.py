"""An in-process, size-bounded, time-limited cache of resolved API keys and their principals."""

import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from domain.model import Principal
from domain.tenancy import TenantId


class TtlCredentialCache:
    """Maps a presented key to its principal for `ttl` seconds; forget(key_id) and
    forget_tenant(tenant_id) drop entries at once."""

    def __init__(self, ttl: float, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._max, self._clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, UUID, Principal]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        expires, _, principal = entry
        if expires <= self._clock():
            del self._entries[token]
            return None
        return principal

    def put(self, token: str, key_id: UUID, principal: Principal) -> None:
        if self._ttl <= 0:
            return
        self._entries[token] = (self._clock() + self._ttl, key_id, principal)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, key_id: UUID) -> None:
        for token in [t for t, (_, k, _) in self._entries.items() if k == key_id]:
            del self._entries[token]

    def forget_tenant(self, tenant_id: TenantId) -> None:
        for token in [t for t, (_, _, p) in self._entries.items() if p.tenant_id == tenant_id]:
            del self._entries[token]

    def clear(self) -> None:
        self._entries.clear()
