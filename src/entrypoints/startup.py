"""What can stop the service or a command from starting, said in one line naming the setting."""

import errno
import socket

import asyncpg
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from entrypoints.settings import Settings


class StartupError(Exception):
    """A setting, or what it points at, keeps the command from running; `str` says which."""


# What a database that cannot be reached or used raises, through SQLAlchemy or underneath it.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def explain(error: BaseException) -> str:
    """One line: the setting, and what is wrong with it."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{Settings.variable(str(problem['loc'][0]))}: "
            f"{str(problem['msg']).removeprefix('Value error, ')}" if problem["loc"]
            else str(problem["msg"]) for problem in error.errors())
    if isinstance(error, StartupError):
        return str(error)
    return f"CATALOG_DATABASE_URL: cannot use the database: {_first_line(error)}"


def database_problem(setting: str, error: BaseException) -> StartupError:
    return StartupError(f"{setting}: cannot use the database: {_first_line(error)}")


def check_port_free(host: str, port: int) -> None:
    """StartupError unless the service could listen on host:port now (another server on it?)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise StartupError(f"CATALOG_HOST (--host): cannot listen on {host}: "
                           f"{error.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"CATALOG_PORT (--port): {host}:{port} is already in use; stop the server "
                    "that listens there first, or choose another port") from None
            if error.errno == errno.EACCES:
                raise StartupError(f"CATALOG_PORT (--port): not allowed to listen on port "
                                   f"{port}; choose one above 1023") from None
            raise StartupError(f"CATALOG_HOST (--host): cannot listen on {host}:{port}: "
                               f"{error.strerror}") from None
