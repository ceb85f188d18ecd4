"""What every migration that adds a table does for tenancy, in one place, for `op` to run.

- `tenant_table(name)`: a table with a `tenant_id` column. On PostgreSQL: row-level security
  enabled and forced, the four tenant policies (`<name>_tenant_select|insert|update|delete`:
  a transaction sees and writes only the rows of `app.tenant_id`, none without one), and
  SELECT, INSERT, UPDATE, DELETE for the service's role. With Citus: distributed by
  `tenant_id` and co-located with `books`, so one tenant's transaction runs on one worker.
- `reference_table(name)`: a table every tenant reads (the tenant registry): grants, and with
  Citus a reference table, copied to every node.
- `drop_tenant_policies(name)`: the downgrade of `tenant_table`'s policies.
- `create_record_table(name, *columns, unique=..., indexed=...)`: a new resource's table,
  written as the service's tables.py builds it (the key, the timestamps and version, the
  constraints under its naming convention), then `tenant_table(name)`. Its downgrade is
  `op.drop_table(name)`.

Nothing here imports the application: migrations stay what they were when written. On SQLite
each function does nothing. Call them after the table (and its keys) exist, e.g.:

    op.create_table("widgets", sa.Column("tenant_id", sa.Uuid(), ...), ...)
    tenant_table("widgets")
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
TENANT_POLICIES = {  # command -> clauses
    "select": ("SELECT", f"USING (tenant_id = {CURRENT_TENANT})"),
    "insert": ("INSERT", f"WITH CHECK (tenant_id = {CURRENT_TENANT})"),
    "update": ("UPDATE", f"USING (tenant_id = {CURRENT_TENANT}) "
                         f"WITH CHECK (tenant_id = {CURRENT_TENANT})"),
    "delete": ("DELETE", f"USING (tenant_id = {CURRENT_TENANT})"),
}
DML = "SELECT, INSERT, UPDATE, DELETE"


def _postgresql() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def app_role() -> str:
    return str(op.get_context().opts.get("app_role") or "catalog_app")


def if_role_exists(statement: str) -> None:
    """Run `statement` (a format() string with one %I for the role) when the role exists."""
    role = app_role().replace("'", "''")
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                EXECUTE format({statement!r}, '{role}');
            END IF;
        END $$""")


def when_citus(*statements: str) -> None:
    """Run PL/pgSQL statements only where the citus extension is installed."""
    body = "\n                ".join(statements)
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
                {body}
            END IF;
        END $$""")


def tenant_table(table: str, *, colocate_with: str = "books", grants: str = DML,
                 extra_policies: dict[str, tuple[str, str]] | None = None) -> None:
    """Row-level security, the tenant policies (and `extra_policies`: name suffix ->
    (command, clauses)), the grants, and with Citus the distribution."""
    if not _postgresql():
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    policies = {f"tenant_{suffix}": policy for suffix, policy in TENANT_POLICIES.items()}
    for suffix, (command, clauses) in (policies | (extra_policies or {})).items():
        op.execute(f"CREATE POLICY {table}_{suffix} ON {table} FOR {command} {clauses}")
    if_role_exists(f"GRANT {grants} ON {table} TO %I")
    colocation = "none" if colocate_with == table else colocate_with
    when_citus(f"PERFORM create_distributed_table('{table}', 'tenant_id', "
               f"colocate_with => '{colocation}');")


def reference_table(table: str, *, grants: str = DML) -> None:
    """The grants, and with Citus a reference table (on every node)."""
    if not _postgresql():
        return
    if_role_exists(f"GRANT {grants} ON {table} TO %I")
    when_citus(f"PERFORM create_reference_table('{table}');")


def drop_tenant_policies(table: str) -> None:
    if not _postgresql():
        return
    for suffix in TENANT_POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {table}_tenant_{suffix} ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def citus_database_settings() -> None:
    """With Citus: `citus.propagate_set_commands = 'local'` for the database, so that a
    transaction's `SET LOCAL app.tenant_id` reaches the workers (the service also sets it in
    each transaction). Needs the database's owner; anyone else gets a notice to do it."""
    if not _postgresql():
        return
    when_citus("""BEGIN
                    EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = '
                                   '''local''', current_database());
                EXCEPTION WHEN insufficient_privilege THEN
                    RAISE NOTICE 'not the database owner: run ALTER DATABASE % SET '
                                 'citus.propagate_set_commands = ''local''', current_database();
                END;""")


def create_record_table(table: str, *columns: sa.Column, unique: Sequence[str] = (),
                        indexed: Sequence[str] = ()) -> None:
    """A resource's table with its own field `columns`: (tenant_id, id) as the key, the
    tenant's foreign key (deleting a tenant deletes its rows), created_at, updated_at and
    version, UNIQUE (tenant_id, field) per `unique` field and an index on (tenant_id, field,
    id) per `indexed` (list filter) field; then the tenancy of `tenant_table`."""
    op.create_table(
        table,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        *columns,
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name=f"fk_{table}_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{table}"),
        *(sa.UniqueConstraint("tenant_id", field, name=f"uq_{table}_tenant_id_{field}")
          for field in unique),
    )
    for field in indexed:
        op.create_index(f"ix_{table}_tenant_id_{field}_id", table, ["tenant_id", field, "id"])
    tenant_table(table)
