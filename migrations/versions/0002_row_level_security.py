"""Row-level security on every tenant table, and the grants of the service's role.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

PostgreSQL only (SQLite has no roles and no policies). A transaction sees and writes only the
rows of the tenant named by `app.tenant_id`, which the unit of work sets with
`set_config(…, true)`; with none set it sees and writes nothing. FORCE applies the policies to
the tables' owner too. Referential actions (a tenant's deletion cascading to its rows) are run
by PostgreSQL as the owner without row security, which is the one deliberate way across.

The service's role (`app_role`, CATALOG_APP_ROLE, default catalog_app) gets exactly SELECT,
INSERT, UPDATE and DELETE on the five tables and SELECT on alembic_version (for /readyz),
when that role exists; it owns nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("api_keys", "books", "cities", "users")
ALL_TABLES = ("tenants", *TENANT_TABLES)
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
POLICIES = {  # name suffix -> (command, clauses)
    "select": ("SELECT", f"USING (tenant_id = {CURRENT_TENANT})"),
    "insert": ("INSERT", f"WITH CHECK (tenant_id = {CURRENT_TENANT})"),
    "update": ("UPDATE", f"USING (tenant_id = {CURRENT_TENANT}) "
                         f"WITH CHECK (tenant_id = {CURRENT_TENANT})"),
    "delete": ("DELETE", f"USING (tenant_id = {CURRENT_TENANT})"),
}


def _role() -> str:
    return str(op.get_context().opts.get("app_role") or "catalog_app")


def _if_role_exists(statement: str) -> None:
    role = _role().replace("'", "''")
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                EXECUTE format({statement!r}, '{role}');
            END IF;
        END $$""")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for suffix, (command, clauses) in POLICIES.items():
            op.execute(f"CREATE POLICY {table}_tenant_{suffix} ON {table} FOR {command} {clauses}")
    _if_role_exists("GRANT USAGE ON SCHEMA public TO %I")
    _if_role_exists(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(ALL_TABLES)} TO %I")
    _if_role_exists("GRANT SELECT ON alembic_version TO %I")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _if_role_exists(f"REVOKE ALL ON {', '.join(ALL_TABLES)}, alembic_version FROM %I")
    for table in TENANT_TABLES:
        for suffix in POLICIES:
            op.execute(f"DROP POLICY {table}_tenant_{suffix} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
