"""Idempotency keys: one record per (scope, key hash), with row-level security.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

No imports from the application; the tenancy steps are migrations/tenancy.py's, which
every later tenant table uses too. `tenant_id` is the scope: a tenant's id, or the nil UUID
for the operator, which is no tenant; hence no foreign key.

On PostgreSQL the four tenant policies of 0002 apply, so a transaction sees and writes only
the records of the scope it entered. Purging crosses scopes by one deliberate, narrow path:
a transaction that sets `app.purge_idempotency` to `on` may also see and delete expired
records, and nothing else. The service's role gets SELECT, INSERT, UPDATE and DELETE. With
Citus, the table is distributed by `tenant_id` beside the other tenant tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.tenancy import tenant_table

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "idempotency_keys"
PURGEABLE = "expires_at < now() AND current_setting('app.purge_idempotency', true) = 'on'"
PURGE_POLICIES = {  # name suffix -> (command, clauses)
    "purge_select": ("SELECT", f"USING ({PURGEABLE})"),
    "purge_delete": ("DELETE", f"USING ({PURGEABLE})"),
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key_hash", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_tenant_id_expires_at", TABLE,
                    ["tenant_id", "expires_at"])
    tenant_table(TABLE, extra_policies=PURGE_POLICIES)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_tenant_id_expires_at", table_name=TABLE)
    op.drop_table(TABLE)  # with its policies and grants
