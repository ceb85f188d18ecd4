"""Domain errors. They say what went wrong in the domain's words, never in HTTP's."""

from dataclasses import dataclass, field


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(DomainError):
    """The record does not exist for this tenant (or at all)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} was not found")
        self.kind, self.key = kind, key


class AlreadyExists(DomainError):
    """A unique property (a city's or user's name, a tenant's slug) is taken."""

    def __init__(self, kind: str, field_name: str, value: object) -> None:
        super().__init__(f"a {kind} with {field_name} {value!r} already exists")
        self.kind, self.field, self.value = kind, field_name, value


class VersionMismatch(DomainError):
    """The record changed since the version the caller expected."""

    def __init__(self, kind: str, expected: int, actual: int) -> None:
        super().__init__(f"{kind} is at version {actual}, not {expected}")
        self.kind, self.expected, self.actual = kind, expected, actual


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its location and what is wrong with it."""

    field: str
    message: str


@dataclass
class InvalidInput(DomainError):
    """One or more fields break the domain's rules."""

    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e.field}: {e.message}" for e in self.errors)


class InvalidCredentials(DomainError):
    """An API key that is malformed, unknown or revoked."""


class Unavailable(DomainError):
    """The store cannot answer now (down, overloaded); the caller may retry later."""


class InsufficientScope(DomainError):
    """The caller's key is valid but may not do this (a read-only key asked to write)."""


class Conflict(DomainError):
    """The request cannot apply to the record in its current state."""
