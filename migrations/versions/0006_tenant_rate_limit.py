"""A tenant's own rate limit: two nullable columns on the tenant registry.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Both null: the service's defaults (CATALOG_TENANT_RATE, CATALOG_TENANT_BURST). A plain ALTER
TABLE on every backend; on Citus `tenants` is a reference table, which Citus alters on every
node. The service's role already holds SELECT and UPDATE on the table (0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("rate_limit_rate", sa.Float(), nullable=True))
    op.add_column("tenants", sa.Column("rate_limit_burst", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("rate_limit_burst")
        batch.drop_column("rate_limit_rate")
