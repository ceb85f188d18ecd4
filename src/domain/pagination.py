"""Keyset pages: a slice of records in id order and where the next slice starts."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """`items` in id order; `next_after` is the id to continue after, or None at the end."""

    items: Sequence[T]
    next_after: UUID | None

    @classmethod
    def from_overfetch(cls, rows: Sequence[T], limit: int, key: Callable[[T], UUID]) -> "Page[T]":
        """Build a page from `limit + 1` fetched rows: the extra row only proves there is more."""
        if len(rows) > limit:
            items = rows[:limit]
            return cls(items, key(items[-1]))
        return cls(rows, None)
