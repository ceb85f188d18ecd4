"""Entities, one module per aggregate."""

from domain.model.book import Book
from domain.model.city import City
from domain.model.record import Record
from domain.model.api_key import ApiKey, IssuedKey, KeyEvent, KeyOptions, Principal
from domain.model.tenant import RateLimit, Tenant
from domain.model.user import User

__all__ = ["ApiKey", "Book", "City", "IssuedKey", "KeyEvent", "KeyOptions", "Principal", "RateLimit",
           "Record", "Tenant", "User"]
