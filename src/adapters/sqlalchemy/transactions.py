"""How every transaction of the service begins, on each backend, with public APIs only.

A `Transaction` is one pooled connection and one transaction at a time on it, told before its
first statement which tenant it belongs to and how long it may wait; everything it is told ends
with it, so nothing survives on a pooled (or PgBouncer-shared) connection, and a transaction
with no tenant sees no rows. Per backend:

- SQLite: `BEGIN IMMEDIATE` (the engine's begin event), so writers queue; no tenant scope.
- PostgreSQL and PgBouncer (transaction pooling): the connection is in the driver's autocommit
  mode and the transaction is begun by one simple-protocol message,
  `BEGIN; SELECT set_config(…, true), …`: tenant and timeouts cost no round trip of their own.
  COMMIT and ROLLBACK go the same way. (PgBouncer differs only in its engine: no statement
  outlives its use.)
- Citus: the tenant must reach the workers' part of the transaction, which a `set_config()`
  call never does. `SET LOCAL app.tenant_id = '…'` does, with `citus.propagate_set_commands`
  at `local` (set in the first message), but only as a message of its own: Citus replays a
  SET's whole message text on the workers. So BEGIN (with the timeouts) is one message and the
  tenant's SET LOCAL a second.

The operator's narrow paths are here too: entering one tenant's rows mid-transaction (a key's
tenant, a tenant's deletion) and the purge of expired idempotency keys. The settings sent are
literals the service formats itself (a UUID and integers), never client text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.errors import translated
from domain.errors import Unavailable
from domain.tenancy import TenantId


class Backend(enum.StrEnum):
    """What the service talks to; `auto` is decided from the URL and, on PostgreSQL, by asking
    the database once whether the citus extension is installed."""

    AUTO = "auto"
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    PGBOUNCER = "pgbouncer"
    CITUS = "citus"


_IS_CITUS = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"


@dataclass
class TransactionScope:
    """The backend and the per-transaction timeouts (PostgreSQL's; SQLite has none)."""

    backend: Backend = Backend.AUTO
    statement_timeout_ms: int = 15_000
    lock_timeout_ms: int = 5_000
    idle_in_transaction_timeout_ms: int = 30_000
    _resolved: Backend | None = field(default=None, init=False, repr=False)

    @classmethod
    def for_dialect(cls, dialect: str, backend: Backend | str = Backend.AUTO,
                    **timeouts: int) -> TransactionScope:
        """The scope for an engine of `dialect`: SQLite is always itself."""
        chosen = Backend.SQLITE if dialect == "sqlite" else Backend(backend)
        return cls(backend=chosen, **timeouts)

    @property
    def enabled(self) -> bool:
        """Whether transactions carry a tenant scope (every backend but SQLite)."""
        return self.backend != Backend.SQLITE

    async def resolve(self, driver: Any) -> Backend:
        """The concrete backend; `auto` asks the database once, on the first transaction."""
        if self._resolved is None:
            if self.backend != Backend.AUTO:
                self._resolved = self.backend
            else:
                is_citus = await driver.fetchval(_IS_CITUS)
                self._resolved = Backend.CITUS if is_citus else Backend.POSTGRESQL
        return self._resolved

    @cached_property
    def _timeouts(self) -> str:
        return (f"set_config('statement_timeout', '{int(self.statement_timeout_ms)}', true),"
                f" set_config('lock_timeout', '{int(self.lock_timeout_ms)}', true),"
                f" set_config('idle_in_transaction_session_timeout',"
                f" '{int(self.idle_in_transaction_timeout_ms)}', true)")

    def begin_messages(self, backend: Backend, tenant_id: TenantId | None, *, readonly: bool,
                       purge: bool) -> list[str]:
        """The simple-protocol messages that begin a transaction on `backend`, in order."""
        begin = "BEGIN READ ONLY" if readonly else "BEGIN"
        tenant = _literal(tenant_id)
        if backend == Backend.CITUS:
            messages = [f"{begin}; SELECT set_config('citus.propagate_set_commands', 'local',"
                        f" true), {self._timeouts}"]
            if tenant:
                messages.append(f"SET LOCAL app.tenant_id = '{tenant}'")
            if purge:
                messages.append("SET LOCAL app.purge_idempotency = 'on'")
            return messages
        settings = f"set_config('app.tenant_id', '{tenant}', true), {self._timeouts}"
        if purge:
            settings += ", set_config('app.purge_idempotency', 'on', true)"
        return [f"{begin}; SELECT {settings}"]

    @staticmethod
    def enter_message(backend: Backend, tenant_id: TenantId) -> str:
        """The message that moves an open transaction into `tenant_id`'s rows."""
        if backend == Backend.CITUS:
            return f"SET LOCAL app.tenant_id = '{_literal(tenant_id)}'"
        return f"SELECT set_config('app.tenant_id', '{_literal(tenant_id)}', true)"


def _literal(tenant_id: TenantId | None) -> str:
    if not tenant_id:
        return ""
    if isinstance(tenant_id, UUID):  # already one: its text is hex digits and dashes
        return str(tenant_id)
    return str(UUID(str(tenant_id)))  # a UUID, nothing else


class Transactions:
    """Opens the service's transactions on one engine, with one scope."""

    def __init__(self, engine: AsyncEngine, scope: TransactionScope) -> None:
        self.engine, self.scope = engine, scope

    @property
    def dialect_name(self) -> str:
        return self.engine.dialect.name

    def open(self, tenant_id: TenantId | None, *, readonly: bool = False,
             purge: bool = False) -> Transaction:
        """A transaction for `tenant_id` (None: no tenant); it connects at its first
        statement. `purge` opens the narrow path to expired idempotency keys."""
        return Transaction(self, tenant_id, readonly=readonly, purge=purge)


class Transaction:
    """One tenant's transaction on one pooled connection, begun at its first statement and
    again after each commit. Leaving without commit rolls back. Use `async with`."""

    def __init__(self, transactions: Transactions, tenant_id: TenantId | None, *,
                 readonly: bool = False, purge: bool = False) -> None:
        self._transactions, self.tenant_id = transactions, tenant_id
        self._readonly, self._purge = readonly, purge
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # the asyncpg connection, on PostgreSQL
        self._backend: Backend | None = None
        self._open = False

    @property
    def dialect_name(self) -> str:
        return self._transactions.dialect_name

    @property
    def dialect(self) -> Any:
        return self._transactions.engine.dialect

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            # Cancelled mid-statement, the driver's view of the transaction is stale until the
            # server answers (a cancelled BEGIN may have opened one it does not know of yet).
            await self.close(interrupted=exc is not None and not isinstance(exc, Exception))
        except Unavailable:
            if exc is None:
                raise
            # the connection died with the work: the work's own error tells the caller

    async def connection(self) -> AsyncConnection:
        """The connection, inside this transaction (begun now if need be)."""
        if not self._open:
            await self._begin()
        assert self._connection is not None
        return self._connection

    async def driver(self) -> Any | None:
        """The asyncpg connection inside this transaction, for prebuilt statements run
        straight on the driver; None on SQLite."""
        await self.connection()
        return self._driver

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        """Run a Core statement (or text) in this transaction (errors untranslated)."""
        connection = await self.connection()
        return await connection.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def enter(self, tenant_id: TenantId) -> None:
        """Move into `tenant_id`'s rows for the rest of this transaction and the next ones:
        the operator's narrow path to one tenant's keys, or to delete the tenant."""
        self.tenant_id = tenant_id
        if not self._open or self._driver is None:
            return  # SQLite has no scope; an unopened transaction begins in the new tenant
        assert self._backend is not None
        await self._send(self._transactions.scope.enter_message(self._backend, tenant_id))

    async def commit(self) -> None:
        if not self._open:
            return
        self._open = False
        with translated():
            if self._driver is None:
                assert self._connection is not None
                await self._connection.commit()
            else:
                await self._send("COMMIT")

    async def close(self, *, interrupted: bool = False) -> None:
        """Roll back whatever was not committed, and give the connection back (or drop it,
        when it is broken, still inside a transaction, or was `interrupted` mid-statement)."""
        connection, driver, was_open = self._connection, self._driver, self._open
        self._connection, self._driver, self._open = None, None, False
        if connection is None:
            return
        try:
            with translated():
                if driver is not None and was_open and not interrupted and not driver.is_closed():
                    await driver.execute("ROLLBACK")
        finally:
            if driver is not None and (interrupted or driver.is_closed()
                                       or driver.is_in_transaction()):
                await connection.invalidate()  # the pool must not hand it out again
            with translated():
                await connection.close()

    async def _begin(self) -> None:
        transactions = self._transactions
        with translated():
            if self._connection is None:
                connection = await transactions.engine.connect()
                self._connection = connection
                if transactions.dialect_name == "sqlite":
                    self._driver = None
                else:
                    # checked out already: the pooled DBAPI connection, no await needed
                    self._driver = connection.sync_connection.connection.driver_connection
            if self._driver is None:
                await self._connection.begin()
                self._open = True
                return
            scope = transactions.scope
            self._backend = await scope.resolve(self._driver)
            self._open = True
            for message in scope.begin_messages(self._backend, self.tenant_id,
                                                readonly=self._readonly, purge=self._purge):
                await self._send(message)

    async def _send(self, message: str) -> None:
        """One simple-protocol message on the driver (no parameters: no prepared statement)."""
        with translated():
            await self._driver.execute(message)
