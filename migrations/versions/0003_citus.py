"""Distribute the tables with Citus, where the citus extension is installed (else nothing).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

The tenant registry becomes a reference table (copied to every node); every tenant table is
distributed by `tenant_id` and co-located with the others, so one tenant's transaction runs on
one worker. The database also gets `citus.propagate_set_commands = 'local'`, under which a
transaction's `SET LOCAL app.tenant_id` reaches the workers (see
src/adapters/sqlalchemy/transactions.py). See docs/scaling.md.
"""

from collections.abc import Sequence

from alembic import op

from migrations.tenancy import citus_database_settings

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("books", "cities", "users", "api_keys")


def _when_citus(body: str) -> None:
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
                {body}
            END IF;
        END $$""")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    steps = ["PERFORM create_reference_table('tenants');"]
    steps += [f"PERFORM create_distributed_table('{table}', 'tenant_id', colocate_with => "
              f"'{'none' if table == TENANT_TABLES[0] else TENANT_TABLES[0]}');"
              for table in TENANT_TABLES]
    _when_citus("\n                ".join(steps))
    citus_database_settings()


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _when_citus("\n                ".join(
        f"PERFORM undistribute_table('{table}', cascade_via_foreign_keys => true);"
        for table in (*TENANT_TABLES, "tenants")))
