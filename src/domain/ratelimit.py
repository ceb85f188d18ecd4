"""The Generic Cell Rate Algorithm: a token bucket kept as one timestamp.

A bucket of `burst` tokens refills at `rate` tokens a second; each request takes one. The
state is the theoretical arrival time (TAT): the moment the bucket would be full again."""

import math
from dataclasses import dataclass

from domain.model import RateLimit


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request: allowed or not, the tokens left, the seconds until a
    rejected request may be retried, and the seconds until the bucket is full again."""

    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float


def gcra(tat: float, now: float, limit: RateLimit) -> tuple[Decision, float]:
    """Decide one request at `now` (seconds) on a bucket whose TAT is `tat`; return the
    decision and the new TAT (unchanged when rejected)."""
    interval = 1.0 / limit.rate
    start = max(tat, now)
    new_tat = start + interval
    allow_at = new_tat - limit.burst * interval
    if now < allow_at:
        return Decision(False, 0, allow_at - now, start - now), tat
    remaining = min(limit.burst - 1, math.floor((now - allow_at) / interval + 1e-9))
    return Decision(True, remaining, 0.0, new_tat - now), new_tat
