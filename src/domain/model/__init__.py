"""Entities, one module per aggregate."""

from domain.model.book import Book
from domain.model.city import City
from domain.model.record import Record
from domain.model.tenant import ApiKey, IssuedKey, Principal, RateLimit, Tenant
from domain.model.user import User

__all__ = ["ApiKey", "Book", "City", "IssuedKey", "Principal", "RateLimit", "Record", "Tenant", "User"]
