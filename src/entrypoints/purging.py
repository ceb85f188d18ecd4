"""The background sweep that deletes expired idempotency keys, while the app runs."""

import asyncio
import contextlib
import logging
import random

from entrypoints.background import running
from entrypoints.container import Container

log = logging.getLogger("catalog.purge")


async def purge_forever(container: Container, interval: float) -> None:
    """Every `interval` seconds (the first time after a random part of it, so that workers
    spread out), delete the expired keys in small batches. A failure is logged, never fatal."""
    await asyncio.sleep(interval * random.uniform(0.1, 1.0))
    while True:
        try:
            deleted = await container.purge_idempotency_keys()()
            if deleted:
                log.info("deleted %d expired idempotency keys", deleted)
        except Exception:
            log.exception("deleting expired idempotency keys failed; trying again later")
        await asyncio.sleep(interval)


def purging(container: Container,
            interval: float) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    """Run purge_forever() in the background until the block ends, then cancel it cleanly."""
    return running(purge_forever(container, interval), "purge-idempotency-keys")
