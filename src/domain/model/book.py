"""Books: a title, an author and a year of release."""

from dataclasses import dataclass

from domain.model.record import Record
from domain.model.resource import Resource
from domain.model.rules import Integer, Text


@dataclass(frozen=True, slots=True, kw_only=True)
class Book(Record):
    KIND = "book"
    RULES = {"name": Text(1, 200), "author": Text(1, 200), "release_year": Integer(-5000, 9999)}

    name: str
    author: str
    release_year: int


BOOKS = Resource(Book, "books", filters=("author",), replaceable=True)
