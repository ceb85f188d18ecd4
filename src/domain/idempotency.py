"""Idempotency keys: what a retried POST finds when it presents a key it used before.

A key is scoped to one tenant, or to the operator (OPERATOR_SCOPE, the nil UUID, which no
tenant ever has). The store keeps only hashes of keys and requests and a sealed copy of the
first answer, which only the holder of the key can open."""

from dataclasses import dataclass
from uuid import UUID

OPERATOR_SCOPE = UUID(int=0)


@dataclass(frozen=True, slots=True)
class SavedResponse:
    """The first answer given under a key: status, the headers worth repeating, the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Started:
    """The key is new (or its record had expired): the caller runs the request, then calls
    complete() or abandon()."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """Another request under this key is still running."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was first used for a different request."""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The store's side of a replay: the first answer's status and its sealed copy."""

    status: int
    sealed: bytes


@dataclass(frozen=True, slots=True)
class Replay:
    """The first answer, opened, to be sent again."""

    response: SavedResponse


@dataclass(frozen=True, slots=True)
class PurgeBatch:
    """One purge step: how many records went, and the scope to resume from (None: done)."""

    deleted: int
    resume_from: UUID | None


Claim = Started | StoredAnswer | InProgress | Mismatch
Outcome = Started | Replay | InProgress | Mismatch
