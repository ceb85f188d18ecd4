"""A resource kind, declared once: everything else about it is derived from this.

A `Resource` names a tenant-owned entity (its fields' rules live on the entity, in `RULES`)
and what the service offers on it: the collection it is stored and served under, the fields
unique within a tenant, the fields a list may match exactly, and whether PUT replaces a
record. The SQL table, the memory store, the unit of work's repository, the request and
response schemas and the routes are all built from the declarations in `RESOURCES`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from domain.model.record import Record
from domain.model.rules import Rule

R_co = TypeVar("R_co", bound=Record, covariant=True)


@dataclass(frozen=True, eq=False)
class Resource(Generic[R_co]):
    """One kind of tenant-owned record. Compared by identity: each is declared once."""

    entity: type[R_co]
    collection: str
    """Plural, lower case: the table's name, the path segment under /v1 and the OpenAPI tag."""
    unique: tuple[str, ...] = ()
    """Fields whose value no two of a tenant's records share."""
    filters: tuple[str, ...] = ()
    """Fields a list may be narrowed to an exact value of (`?author=...`), each indexed."""
    replaceable: bool = False
    """Whether PUT replaces every field at once (PATCH always changes some)."""
    defaults: Mapping[str, object] = field(default_factory=dict)
    """Values of the fields a create may leave out."""

    def __post_init__(self) -> None:
        for name in (*self.unique, *self.filters, *self.defaults):
            if name not in self.rules:
                raise ValueError(f"{self.collection}: {name!r} is not a field of "
                                 f"{self.entity.__name__}")

    @property
    def kind(self) -> str:
        """The singular name errors use: `book`."""
        return self.entity.KIND

    @property
    def rules(self) -> Mapping[str, Rule]:
        """Each field's rule, in declaration order."""
        return self.entity.RULES

    @property
    def name(self) -> str:
        """The entity's class name, which its schemas are named after (`BookIn`, `BookOut`)."""
        return self.entity.__name__
