"""The background loop that follows the key event log while the app runs, so that a key
revoked (or a tenant deleted) on any instance stops working on this one within 2 s."""

import asyncio
import contextlib
import logging
import time

from entrypoints.background import running
from entrypoints.container import Container

log = logging.getLogger("catalog.keys")


async def follow_forever(container: Container, interval: float) -> None:
    """Poll every `interval` seconds. While polls fail, the cache marks itself stale and
    every key is looked up again; after a long gap (events may have aged out of the feed's
    window) the cache is emptied."""
    follow, cache = container.follow_key_events(), container.credential_cache()
    last_ok = time.monotonic()
    while True:
        started = time.monotonic()
        try:
            await follow()
            if started - last_ok > 30:
                cache.clear()
            last_ok = started
        except Exception:
            log.warning("polling the key event log failed; cached keys are not trusted until "
                        "it answers", exc_info=log.isEnabledFor(logging.DEBUG))
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def following_key_events(
        container: Container,
        interval: float) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    """Run follow_forever() in the background until the block ends, then cancel it."""
    return running(follow_forever(container, interval), "follow-key-events")
