"""The worker process's garbage collector, tuned for a server that keeps a big, long-lived heap.

Once the app has started, the objects alive are alive for good (routes and their models, the
OpenAPI document, SQLAlchemy's metadata, the container, the pool): about 120,000 of them.
Left in the collector's care, every full collection walks them all again, and with the
default gen-0 threshold (700 allocations) a collection runs every request or two, promoting
the objects of the requests in flight. `gc.freeze()` moves what is alive at startup into the
permanent generation, which no collection walks; a higher gen-0 threshold makes collections
rarer (reference counting still frees almost everything at once; only cyclic garbage waits
for a collection)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def parse_threshold(value: str) -> tuple[int, ...]:
    """`"50000"`, `"50000,20"` or `"50000,20,20"` -> gc.set_threshold's arguments; an empty
    value (or `default`) -> () for the interpreter's own."""
    text = value.strip().lower()
    if text in ("", "default"):
        return ()
    parts = tuple(int(part) for part in text.split(","))
    if not 1 <= len(parts) <= 3 or any(part < 1 for part in parts):
        raise ValueError("one to three positive integers, such as 50000 or 50000,20,20")
    return parts


def tune_collector(threshold: tuple[int, ...]) -> None:
    """Set the collector's thresholds (the ones not given keep their current values)."""
    if threshold:
        current = gc.get_threshold()
        gc.set_threshold(*threshold, *current[len(threshold):])


def freezing_after_startup(lifespan: Lifespan) -> Lifespan:
    """`lifespan`, then one full collection and `gc.freeze()` once it has started: the
    startup's garbage goes, everything still alive leaves the collector's sight."""

    @asynccontextmanager
    async def frozen(app: Any) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            gc.collect()
            gc.freeze()
            yield state

    return frozen
