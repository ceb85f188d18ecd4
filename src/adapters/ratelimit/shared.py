"""The rate limiter shared by every instance through Redis, failing open to the local one.

One request is one round trip: EVALSHA of a GCRA script that reads the tenant's theoretical
arrival time, decides on Redis's own clock (so instances need no synchronised clocks), writes
the new time with an expiry, and answers. When Redis errs or takes longer than `timeout`
seconds, the request is decided by the in-process limiter instead, `on_fallback` counts it,
and Redis is tried again after `retry_interval` seconds; a warning is logged at most once a
minute."""

import asyncio
import logging
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout
from redis.retry import Retry

from adapters.ratelimit.local import InMemoryRateLimiter
from domain.model import RateLimit
from domain.ratelimit import Decision
from domain.tenancy import TenantId

log = logging.getLogger("catalog.ratelimit")

# KEYS[1]: the tenant's bucket. ARGV: emission interval (µs), burst. Times in microseconds.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local start = math.max(tat, now)
local new_tat = start + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now), math.ceil(start - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
           math.ceil((new_tat - now) / 1000) + 1)
local remaining = math.min(burst - 1, math.floor((now - allow_at) / interval + 1e-9))
return {1, remaining, 0, math.ceil(new_tat - now)}
"""
LOG_EVERY_SECONDS = 60.0


class RedisRateLimiter:
    """RateLimiter over one Redis (the `CATALOG_REDIS_URL`), with `fallback` when it fails."""

    def __init__(self, url: str, *, timeout: float, fallback: InMemoryRateLimiter,
                 on_fallback: Callable[[], None] = lambda: None, retry_interval: float = 1.0,
                 prefix: str = "catalog:ratelimit:",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                     retry=Retry(NoBackoff(), 0), health_check_interval=0,
                                     driver_info=None)  # no CLIENT SETINFO round trips
        self._script = self._redis.register_script(GCRA_SCRIPT)
        self._timeout, self._fallback, self._on_fallback = timeout, fallback, on_fallback
        self._retry_interval, self._prefix, self._clock = retry_interval, prefix, clock
        self._down_until = 0.0
        self._logged_down_at = self._logged_up_at = -math.inf
        self._failing = False

    async def hit(self, tenant_id: TenantId, limit: RateLimit) -> Decision:
        if self._clock() < self._down_until:
            return self._fall_back(tenant_id, limit, None)
        try:
            async with asyncio.timeout(self._timeout):
                allowed, remaining, retry_us, reset_us = await self._script(
                    keys=[f"{self._prefix}{tenant_id}"],
                    args=[repr(1_000_000 / limit.rate), limit.burst])
        except (TimeoutError, RedisTimeout) as error:  # slow: that connection is dropped
            self._down_until = self._clock() + self._retry_interval
            return self._fall_back(tenant_id, limit, error)
        except (RedisError, OSError) as error:
            self._down_until = self._clock() + self._retry_interval
            await self._drop_idle_connections()  # they may all point at a Redis now gone
            return self._fall_back(tenant_id, limit, error)
        if self._failing:
            self._failing = False
            self._log_once(up=True)
        return Decision(bool(allowed), int(remaining), retry_us / 1e6, reset_us / 1e6)

    async def warm(self, budget: float = 2.0) -> None:
        """Connect and load the script before the first request, within `budget` seconds;
        when Redis does not answer, requests fall back as usual."""
        try:
            async with asyncio.timeout(budget):
                await self._redis.script_load(GCRA_SCRIPT)
        except (RedisError, OSError, TimeoutError) as error:
            self._failing = True
            self._log_once(up=False, error=error)

    async def _drop_idle_connections(self) -> None:
        try:
            await self._redis.connection_pool.disconnect(inuse_connections=False)
        except (RedisError, OSError):
            pass

    def _fall_back(self, tenant_id: TenantId, limit: RateLimit,
                   error: BaseException | None) -> Decision:
        self._on_fallback()
        if error is not None:
            self._failing = True
            self._log_once(up=False, error=error)
        return self._fallback.hit_now(tenant_id, limit)

    def _log_once(self, *, up: bool, error: BaseException | None = None) -> None:
        now = self._clock()
        if up and now - self._logged_up_at >= LOG_EVERY_SECONDS:
            self._logged_up_at = now
            log.warning("Redis answers again: the rate limit is shared across instances again")
        elif not up and now - self._logged_down_at >= LOG_EVERY_SECONDS:
            self._logged_down_at = now
            log.warning("Redis unreachable or slow (%s): each instance enforces the rate limit "
                        "alone until it answers (logged at most once a minute)",
                        type(error).__name__ if error else "timeout")

    async def close(self) -> None:
        await self._redis.aclose()
