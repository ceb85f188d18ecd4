"""Cities: a name unique within the tenant, and a population."""

from dataclasses import dataclass

from domain.model.record import Record
from domain.model.resource import Resource
from domain.model.rules import INT64_MAX, Integer, Text


@dataclass(frozen=True, slots=True, kw_only=True)
class City(Record):
    KIND = "city"
    RULES = {"name": Text(1, 200), "population": Integer(0, INT64_MAX)}

    name: str
    population: int


CITIES = Resource(City, "cities", unique=("name",))
