"""API keys get a name, scopes, an expiry and a last use; the key event log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

No imports from the application; the Citus and grant steps are migrations/tenancy.py's. Existing keys become read-write keys
with no expiry and an empty name (the column defaults).

`key_events` is the append-only log that every instance polls to drop cached keys that were
revoked, whose expiry moved, or whose tenant was deleted or changed. It holds ids only, belongs
to no tenant (a deleted tenant's event outlives it), so it has no row-level security and no
foreign key; the service's role may SELECT, INSERT and DELETE (old events) but not UPDATE it.
With Citus it is a reference table, so polling it is a local read on any node.

Downgrading would turn read-only and expired keys into working read-write keys: those are
revoked first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.tenancy import reference_table

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "key_events"


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("name", sa.String(length=100), nullable=False,
                                        server_default=""))
    op.add_column("api_keys", sa.Column("scopes", sa.String(length=32), nullable=False,
                                        server_default="read,write"))
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_key_events"),
    )
    reference_table(TABLE, grants="SELECT, INSERT, DELETE")


def downgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:  # row-level security hides every key from a transaction without a tenant
        op.execute("ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL"
               " AND (scopes <> 'read,write' OR expires_at IS NOT NULL)")
    if postgresql:
        op.execute("ALTER TABLE api_keys FORCE ROW LEVEL SECURITY")
    op.drop_table(TABLE)
    for column in ("last_used_at", "expires_at", "scopes", "name"):
        op.drop_column("api_keys", column)
