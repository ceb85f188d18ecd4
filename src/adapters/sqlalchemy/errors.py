"""Driver errors translated into domain errors at the adapter's edge, by constraint name."""

import re
from collections.abc import Mapping
from types import TracebackType

import asyncpg
from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from adapters.sqlalchemy.tables import UNIQUE_FIELDS, metadata
from domain.errors import AlreadyExists, NotFound, Unavailable

_PG_CONSTRAINT = re.compile(r'constraint "([^"]+)"')
_SHARD_SUFFIX = re.compile(r"(.+)_\d+")  # Citus names a shard's constraint `<name>_<shard id>`
_NAMED = {str(constraint.name) for table in metadata.tables.values()
          for constraint in table.constraints if constraint.name}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w., ]+)")

# SQLite names no constraint in its messages, only table.column lists: map those to names.
_SQLITE_COLUMNS = {
    (table.name, tuple(column.name for column in constraint.columns)): str(constraint.name)
    for table in metadata.tables.values()
    for constraint in table.constraints if isinstance(constraint, UniqueConstraint)
}


def unsharded(name: str | None) -> str | None:
    """The schema's name for a constraint, also when Citus reports a shard's
    (`uq_users_tenant_id_name_102087` is `uq_users_tenant_id_name`)."""
    if name and name not in _NAMED and (match := _SHARD_SUFFIX.fullmatch(name)):
        if match.group(1) in _NAMED:
            return match.group(1)
    return name


def constraint_name(error: IntegrityError | asyncpg.PostgresError) -> str | None:
    """The violated constraint's name, from the driver's error on either dialect."""
    if isinstance(error, asyncpg.PostgresError):  # Citus relays a shard's error by message only
        match = _PG_CONSTRAINT.search(str(error))
        return unsharded(getattr(error, "constraint_name", None) or (match and match.group(1)))
    cause = getattr(error.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    if name:
        return unsharded(str(name))
    message = str(error.orig)
    if match := _PG_CONSTRAINT.search(message):
        return unsharded(match.group(1))
    if match := _SQLITE_UNIQUE.search(message):
        columns = [part.strip().split(".") for part in match.group(1).split(",")]
        return _SQLITE_COLUMNS.get((columns[0][0], tuple(column for _, column in columns)))
    return None


# lock, statement and idle-in-transaction timeouts, too many connections, shutting down
_RETRYABLE = {"55P03", "57014", "25P03", "53300", "57P01", "57P02", "57P03", "40001", "40P01"}
_RETRYABLE_CLASSES = {"08"}  # connection exceptions


def _sqlstate(error: DBAPIError) -> str:
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return ""


def _is_foreign_key(error: IntegrityError) -> bool:
    name = constraint_name(error) or ""
    return name.startswith("fk_") or "FOREIGN KEY constraint failed" in str(error.orig)


def _tenant_gone(values: Mapping[str, object] | None) -> NotFound:
    """Only a tenant is referred to by a foreign key: the written row names which."""
    return NotFound("tenant", (values or {}).get("tenant_id"))


class _Translation:
    """The context manager `translated` returns (a class, not a generator: it is entered
    several times per request, and this costs two calls rather than six)."""

    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, object] | None) -> None:
        self.values = values

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: type[BaseException] | None, error: BaseException | None,
                 _tb: TracebackType | None) -> bool:
        if error is not None:
            _translate(error, self.values)
        return False  # not translated: the error goes on as it is


_UNTRANSLATED = _Translation(None)


def translated(values: Mapping[str, object] | None = None) -> _Translation:
    """Re-raise integrity and connectivity errors as AlreadyExists, NotFound or Unavailable.

    `values` are the fields being written, to name the taken value in AlreadyExists and the
    missing tenant (a foreign key refused: the tenant was deleted meanwhile) in NotFound."""
    return _UNTRANSLATED if values is None else _Translation(values)


def _translate(error: BaseException, values: Mapping[str, object] | None) -> None:
    """Raise the domain's error for `error`, or return when it has none."""
    if isinstance(error, IntegrityError):
        name = constraint_name(error)
        if name in UNIQUE_FIELDS:
            kind, field = UNIQUE_FIELDS[name]
            raise AlreadyExists(kind, field, (values or {}).get(field)) from error
        if _is_foreign_key(error):
            raise _tenant_gone(values) from error
    elif isinstance(error, asyncpg.PostgresError):  # from statements run on the driver
        code, name = error.sqlstate or "", constraint_name(error)
        if code == "23505" and name in UNIQUE_FIELDS:
            kind, field = UNIQUE_FIELDS[name]
            raise AlreadyExists(kind, field, (values or {}).get(field)) from error
        if code == "23503":
            raise _tenant_gone(values) from error
        if code in _RETRYABLE or code[:2] in _RETRYABLE_CLASSES:
            raise Unavailable("the database is too busy to answer now") from error
    elif isinstance(error, asyncpg.InterfaceError):  # the driver's connection is unusable
        raise Unavailable("the database connection was lost") from error
    elif isinstance(error, PoolTimeout):
        raise Unavailable("no database connection became free in time") from error
    elif isinstance(error, (OperationalError, InterfaceError)):
        raise Unavailable("the database is unreachable or too slow to answer") from error
    elif isinstance(error, (OSError, TimeoutError)):  # the driver could not connect at all
        raise Unavailable("the database is unreachable") from error
    elif isinstance(error, DBAPIError):
        if error.connection_invalidated:
            raise Unavailable("the database connection was lost") from error
        if _sqlstate(error) in _RETRYABLE or _sqlstate(error)[:2] in _RETRYABLE_CLASSES:
            raise Unavailable("the database is too busy to answer now") from error
