"""Users: a name unique within the tenant, and a full name."""

from dataclasses import dataclass

from domain.model.record import Record
from domain.model.resource import Resource
from domain.model.rules import Text


@dataclass(frozen=True, slots=True, kw_only=True)
class User(Record):
    KIND = "user"
    RULES = {"name": Text(1, 200), "full_name": Text(0, 200)}

    name: str
    full_name: str


USERS = Resource(User, "users", unique=("name",), defaults={"full_name": ""})
