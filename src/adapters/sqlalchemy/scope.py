"""What each PostgreSQL transaction is told before its first statement: its tenant and its
timeouts, all with `set_config(…, true)` so they end with the transaction. Nothing survives on
a pooled (or PgBouncer-shared) connection, and a transaction with no tenant sees no rows.

Sessions of the `ScopedSession` class carry their TransactionScope and tenant in `info`, and
apply them whenever they begin a transaction (also the ones after a commit)."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.pg_connection import ScopedBeginConnection
from domain.tenancy import TenantId

_BEGIN = text(
    "SELECT set_config('app.tenant_id', :tenant, true),"
    " set_config('statement_timeout', :statement_timeout, true),"
    " set_config('lock_timeout', :lock_timeout, true),"
    " set_config('idle_in_transaction_session_timeout', :idle_timeout, true)")
_SWITCH = text("SELECT set_config('app.tenant_id', :tenant, true)")


@dataclass(frozen=True)
class TransactionScope:
    """Tenant and timeouts for every transaction on PostgreSQL; SQLite needs neither."""

    enabled: bool = True
    statement_timeout_ms: int = 15_000
    lock_timeout_ms: int = 5_000
    idle_in_transaction_timeout_ms: int = 30_000

    @classmethod
    def for_dialect(cls, dialect: str, **timeouts: int) -> "TransactionScope":
        return cls(enabled=dialect == "postgresql", **timeouts)

    def info(self, tenant_id: TenantId | None) -> dict[str, Any]:
        """The `info` of a session whose transactions belong to `tenant_id` (None: to none)."""
        return {"scope": self, "tenant_id": tenant_id}

    def begin_sql(self, tenant_id: TenantId | None) -> str:
        """The same settings as one SQL statement of literals, to send along with BEGIN."""
        tenant = str(UUID(str(tenant_id))) if tenant_id else ""  # a UUID, nothing else
        return (f"SELECT set_config('app.tenant_id', '{tenant}', true),"
                f" set_config('statement_timeout', '{int(self.statement_timeout_ms)}', true),"
                f" set_config('lock_timeout', '{int(self.lock_timeout_ms)}', true),"
                f" set_config('idle_in_transaction_session_timeout',"
                f" '{int(self.idle_in_transaction_timeout_ms)}', true)")

    def parameters(self, tenant_id: TenantId | None) -> dict[str, str]:
        return {"tenant": str(tenant_id) if tenant_id else "",
                "statement_timeout": str(self.statement_timeout_ms),
                "lock_timeout": str(self.lock_timeout_ms),
                "idle_timeout": str(self.idle_in_transaction_timeout_ms)}

    async def switch(self, session: AsyncSession, tenant_id: TenantId) -> None:
        """The operator's narrow path into one tenant's rows (its API keys), for the rest of
        this session."""
        session.info["tenant_id"] = tenant_id
        if self.enabled and session.in_transaction():
            with translated():
                await session.execute(_SWITCH, {"tenant": str(tenant_id)})


class ScopedSession(Session):
    """A Session that applies its TransactionScope at the start of every transaction."""


@event.listens_for(ScopedSession, "after_begin")
def _apply_scope(session: Session, _transaction: SessionTransaction,
                 connection: Connection) -> None:
    scope: TransactionScope | None = session.info.get("scope")
    if scope is None or not scope.enabled:
        return
    tenant_id = session.info.get("tenant_id")
    adapted = connection.connection.dbapi_connection
    driver = getattr(adapted, "driver_connection", None)
    if isinstance(driver, ScopedBeginConnection) and getattr(adapted, "_transaction", 0) is None:
        driver.begin_suffix = scope.begin_sql(tenant_id)  # sent with the coming BEGIN
    else:
        connection.execute(_BEGIN, scope.parameters(tenant_id))
