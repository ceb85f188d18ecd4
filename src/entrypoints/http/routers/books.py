"""Books: the shared record routes, with PUT and an exact-match `author` filter."""

from entrypoints.http.routers.records import record_router
from entrypoints.http.schemas import BookIn, BookOut, BookPage, BookPatch

router = record_router("books", "/v1/books", create=BookIn, patch=BookPatch, put=BookIn,
                       out=BookOut, page=BookPage, tag="books", filter_by="author")
