"""In-memory adapters: real implementations of the ports, for unit and contract tests."""

from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.memory.store import MemoryStore, MemoryUnitOfWork, MemoryOperatorUnitOfWork

__all__ = ["MemoryIdempotencyStore", "MemoryOperatorUnitOfWork", "MemoryStore",
           "MemoryUnitOfWork"]
