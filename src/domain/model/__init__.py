"""Entities, one module per aggregate, and the resource kinds the service serves."""

from domain.model.api_key import ApiKey, IssuedKey, KeyEvent, KeyOptions, Principal
from domain.model.book import BOOKS, Book
from domain.model.city import CITIES, City
from domain.model.record import Record
from domain.model.resource import Resource
from domain.model.tenant import RateLimit, Tenant
from domain.model.user import USERS, User

# Every tenant-owned resource kind: its table, store, repository, schemas and routes follow.
RESOURCES: tuple[Resource[Record], ...] = (BOOKS, CITIES, USERS)

__all__ = ["BOOKS", "CITIES", "RESOURCES", "USERS", "ApiKey", "Book", "City", "IssuedKey",
           "KeyEvent", "KeyOptions", "Principal", "RateLimit", "Record", "Resource", "Tenant",
           "User"]
