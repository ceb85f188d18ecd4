"""Time-ordered identifiers (UUID version 7, RFC 9562), monotonic within this process."""

import secrets
import threading
import time
from uuid import UUID

_lock = threading.Lock()
_last_stamp = 0


def new_id() -> UUID:
    """Return a UUIDv7 greater than every id this process made before it."""
    global _last_stamp
    with _lock:
        stamp = max((time.time_ns() // 1_000_000) << 12, _last_stamp + 1)
        _last_stamp = stamp
    millis, counter = stamp >> 12, stamp & 0xFFF
    value = (millis << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | secrets.randbits(62)
    return UUID(int=value)


def id_floor(at_ms: int) -> UUID:
    """The smallest UUIDv7 of the millisecond `at_ms` (since the epoch): every id made from
    then on is greater."""
    return UUID(int=(max(at_ms, 0) << 80) | (0x7 << 76) | (0b10 << 62))
