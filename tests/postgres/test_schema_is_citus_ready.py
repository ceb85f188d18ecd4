"""Every tenant table is shaped for distribution by `tenant_id` (Citus): its primary key,
unique constraints, indexes and foreign keys all include it, with one column type."""

from sqlalchemy import ForeignKeyConstraint, PrimaryKeyConstraint, UniqueConstraint

from adapters.sqlalchemy.tables import metadata
from domain.model import RESOURCES

REFERENCE_TABLES = {"key_events"}  # names tenants, belongs to none: copied to every node
TENANT_TABLES = [t for t in metadata.sorted_tables
                 if "tenant_id" in t.c and t.name not in REFERENCE_TABLES]


def test_the_tenant_tables_are_the_ones_expected() -> None:
    assert {t.name for t in TENANT_TABLES} == {"api_keys", "idempotency_keys",
                                               *(r.collection for r in RESOURCES)}


def test_keys_and_indexes_lead_with_tenant_id() -> None:
    broken = []
    for table in TENANT_TABLES:
        for constraint in table.constraints:
            if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
                columns = [c.name for c in constraint.columns]
                if columns[:1] != ["tenant_id"]:
                    broken.append(f"{table.name}.{constraint.name}: {columns}")
            if isinstance(constraint, ForeignKeyConstraint):
                if "tenant_id" not in [c.name for c in constraint.columns]:
                    broken.append(f"{table.name}.{constraint.name}: no tenant_id")
        for index in table.indexes:
            first = next(iter(index.expressions))
            if getattr(first, "name", None) != "tenant_id":
                broken.append(f"{table.name}.{index.name}: does not lead with tenant_id")
    assert broken == []


def test_tenant_id_has_one_type_everywhere() -> None:
    types = {type(t.c.tenant_id.type) for t in metadata.sorted_tables if "tenant_id" in t.c}
    types.add(type(metadata.tables["tenants"].c.id.type))
    assert len(types) == 1
