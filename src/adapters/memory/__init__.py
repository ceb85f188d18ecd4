"""In-memory adapters: real implementations of the ports, for unit and contract tests."""

from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.memory.repositories import InMemoryApiKeyReader, InMemoryCityReader
from adapters.memory.store import (MemoryKeyEventFeed, MemoryOperatorUnitOfWork, MemoryStore,
                                   MemoryUnitOfWork)

__all__ = ["InMemoryApiKeyReader", "InMemoryCityReader", "MemoryIdempotencyStore",
           "MemoryKeyEventFeed", "MemoryOperatorUnitOfWork", "MemoryStore", "MemoryUnitOfWork"]
