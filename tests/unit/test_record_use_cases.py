"""Create, get, list, update and delete of records, on the in-memory adapters."""

from datetime import UTC, timedelta

import pytest

from domain.errors import AlreadyExists, InvalidInput, NotFound, VersionMismatch
from domain.ids import new_id
from domain.model import Book, City
from domain.pagination import Page

BOOK = {"name": "Dune", "author": "Frank Herbert", "release_year": 1965}


async def test_create_returns_the_stored_book(books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    assert isinstance(book, Book)
    assert (book.name, book.author, book.release_year) == ("Dune", "Frank Herbert", 1965)
    assert (book.tenant_id, book.version) == (tenant_id, 1)
    assert book.created_at == book.updated_at
    assert book.created_at.utcoffset() == timedelta(0)
    assert await books.get(tenant_id, book.id) == book


async def test_create_validates_before_storing(books, tenant_id) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        await books.create(tenant_id, {**BOOK, "release_year": 10_000, "isbn": "x"})
    assert {e.field for e in excinfo.value.errors} == {"release_year", "isbn"}
    assert (await books.list(tenant_id, after=None, limit=10)).items == []


async def test_create_of_a_taken_unique_name_is_already_exists(cities, tenant_id,
                                                               other_tenant_id) -> None:
    await cities.create(tenant_id, {"name": "Oslo", "population": 700_000})
    with pytest.raises(AlreadyExists) as excinfo:
        await cities.create(tenant_id, {"name": "Oslo", "population": 1})
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("city", "name", "Oslo")
    # The failed create left nothing behind, and another tenant may use the name.
    assert len((await cities.list(tenant_id, after=None, limit=10)).items) == 1
    other = await cities.create(other_tenant_id, {"name": "Oslo", "population": 2})
    assert other.population == 2


async def test_books_names_are_not_unique(books, tenant_id) -> None:
    first = await books.create(tenant_id, BOOK)
    second = await books.create(tenant_id, BOOK)
    assert first.id != second.id


async def test_get_of_a_missing_or_foreign_record_is_not_found(books, tenant_id,
                                                               other_tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    missing = new_id()
    with pytest.raises(NotFound) as excinfo:
        await books.get(tenant_id, missing)
    assert (excinfo.value.kind, excinfo.value.key) == ("book", missing)
    with pytest.raises(NotFound) as foreign:
        await books.get(other_tenant_id, book.id)
    assert str(foreign.value) == str(NotFound("book", book.id))


async def test_list_pages_through_in_creation_order(books, tenant_id) -> None:
    created = [await books.create(tenant_id, {**BOOK, "name": f"Book {i}"}) for i in range(7)]
    seen, after, pages = [], None, 0
    while True:
        page = await books.list(tenant_id, after=after, limit=3)
        assert isinstance(page, Page)
        assert len(page.items) <= 3
        seen.extend(page.items)
        pages += 1
        if page.next_after is None:
            break
        assert page.next_after == page.items[-1].id
        after = page.next_after
    assert pages == 3
    assert [b.id for b in seen] == [b.id for b in created]


async def test_list_of_an_exact_multiple_of_the_limit_ends_without_an_empty_page(
        books, tenant_id) -> None:
    created = [await books.create(tenant_id, BOOK) for _ in range(4)]
    first = await books.list(tenant_id, after=None, limit=2)
    second = await books.list(tenant_id, after=first.next_after, limit=2)
    assert [b.id for b in [*first.items, *second.items]] == [b.id for b in created]
    assert second.next_after is None


async def test_list_is_stable_under_inserts_between_pages(books, tenant_id) -> None:
    created = [await books.create(tenant_id, BOOK) for _ in range(3)]
    first = await books.list(tenant_id, after=None, limit=2)
    late = await books.create(tenant_id, BOOK)
    second = await books.list(tenant_id, after=first.next_after, limit=2)
    assert [b.id for b in second.items] == [created[2].id, late.id]


async def test_list_filters_by_exact_author_across_pages(books, tenant_id) -> None:
    wanted = []
    for i in range(6):
        author = "Le Guin" if i % 2 else "Herbert"
        book = await books.create(tenant_id, {**BOOK, "name": f"B{i}", "author": author})
        if author == "Le Guin":
            wanted.append(book.id)
    await books.create(tenant_id, {**BOOK, "author": "le guin"})
    first = await books.list(tenant_id, after=None, limit=2, filters={"author": "Le Guin"})
    second = await books.list(tenant_id, after=first.next_after, limit=2,
                              filters={"author": "Le Guin"})
    assert [b.id for b in [*first.items, *second.items]] == wanted
    assert second.next_after is None
    assert (await books.list(tenant_id, after=None, limit=5,
                             filters={"author": "Nobody"})).items == []


async def test_list_shows_only_the_callers_records(books, tenant_id, other_tenant_id) -> None:
    mine = await books.create(tenant_id, BOOK)
    await books.create(other_tenant_id, BOOK)
    page = await books.list(tenant_id, after=None, limit=50)
    assert [b.id for b in page.items] == [mine.id]


async def test_update_changes_only_the_given_fields_and_bumps_the_version(
        stepped_books, clock, tenant_id) -> None:
    book = await stepped_books.create(tenant_id, BOOK)
    clock.advance(5)
    updated = await stepped_books.update(tenant_id, book.id, {"release_year": 1966})
    assert (updated.name, updated.author, updated.release_year) == ("Dune", "Frank Herbert", 1966)
    assert updated.version == 2
    assert updated.created_at == book.created_at
    assert updated.updated_at == book.created_at + timedelta(seconds=5)
    assert await stepped_books.get(tenant_id, book.id) == updated


async def test_update_with_the_expected_version(books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    v2 = await books.update(tenant_id, book.id, {"name": "A"}, expected_version=1)
    v3 = await books.update(tenant_id, book.id, {"name": "B"}, expected_version=2)
    assert (v2.version, v3.version, v3.name) == (2, 3, "B")


async def test_update_with_a_stale_version_is_a_mismatch_and_changes_nothing(
        books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    await books.update(tenant_id, book.id, {"name": "A"})
    with pytest.raises(VersionMismatch) as excinfo:
        await books.update(tenant_id, book.id, {"name": "B"}, expected_version=1)
    assert (excinfo.value.kind, excinfo.value.expected, excinfo.value.actual) == ("book", 1, 2)
    current = await books.get(tenant_id, book.id)
    assert (current.name, current.version) == ("A", 2)


async def test_update_without_changes_returns_the_record_as_is(books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    assert await books.update(tenant_id, book.id, {}) == book
    assert await books.update(tenant_id, book.id, {}, expected_version=1) == book
    with pytest.raises(VersionMismatch):
        await books.update(tenant_id, book.id, {}, expected_version=7)
    with pytest.raises(NotFound):
        await books.update(tenant_id, new_id(), {})


async def test_update_of_a_missing_or_foreign_record_is_not_found(books, tenant_id,
                                                                  other_tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    with pytest.raises(NotFound):
        await books.update(tenant_id, new_id(), {"name": "X"})
    with pytest.raises(NotFound):
        await books.update(other_tenant_id, book.id, {"name": "X"})
    with pytest.raises(NotFound):
        await books.update(other_tenant_id, book.id, {"name": "X"}, expected_version=1)
    assert (await books.get(tenant_id, book.id)).name == "Dune"


async def test_update_validates_changes(books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    for changes in ({"name": ""}, {"version": 9}, {"id": new_id()}, {"author": "a\x00"},
                    {"release_year": None}):
        with pytest.raises(InvalidInput):
            await books.update(tenant_id, book.id, changes)
    assert await books.get(tenant_id, book.id) == book


async def test_update_to_a_taken_name_is_already_exists(cities, tenant_id) -> None:
    await cities.create(tenant_id, {"name": "Rome", "population": 1})
    paris = await cities.create(tenant_id, {"name": "Paris", "population": 2})
    with pytest.raises(AlreadyExists) as excinfo:
        await cities.update(tenant_id, paris.id, {"name": "Rome"})
    error = excinfo.value
    assert (error.kind, error.field, error.value) == ("city", "name", "Rome")
    assert await cities.get(tenant_id, paris.id) == paris
    # Renaming a city to its own name is not a conflict.
    same = await cities.update(tenant_id, paris.id, {"name": "Paris", "population": 3})
    assert (same.name, same.population, same.version) == ("Paris", 3, 2)


async def test_delete(books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    await books.delete(tenant_id, book.id)
    with pytest.raises(NotFound):
        await books.get(tenant_id, book.id)
    with pytest.raises(NotFound):
        await books.delete(tenant_id, book.id)


async def test_delete_with_versions(books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    await books.update(tenant_id, book.id, {"name": "v2"})
    with pytest.raises(VersionMismatch) as excinfo:
        await books.delete(tenant_id, book.id, expected_version=1)
    assert (excinfo.value.expected, excinfo.value.actual) == (1, 2)
    assert (await books.get(tenant_id, book.id)).version == 2
    await books.delete(tenant_id, book.id, expected_version=2)
    with pytest.raises(NotFound):
        await books.delete(tenant_id, book.id, expected_version=2)


async def test_delete_of_a_foreign_record_is_not_found_and_keeps_it(books, tenant_id,
                                                                    other_tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    with pytest.raises(NotFound):
        await books.delete(other_tenant_id, book.id)
    assert await books.get(tenant_id, book.id) == book


async def test_a_deleted_unique_name_is_free_again(cities, tenant_id) -> None:
    city = await cities.create(tenant_id, {"name": "Bonn", "population": 1})
    await cities.delete(tenant_id, city.id)
    again = await cities.create(tenant_id, {"name": "Bonn", "population": 2})
    assert isinstance(again, City) and again.id != city.id


async def test_timestamps_are_utc(books, tenant_id) -> None:
    book = await books.create(tenant_id, BOOK)
    updated = await books.update(tenant_id, book.id, {"name": "X"})
    for moment in (book.created_at, updated.created_at, updated.updated_at):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert updated.updated_at >= book.updated_at
    assert book.created_at.tzinfo == UTC


async def test_writes_for_a_deleted_tenant_are_not_found(books, users, tenant_id,
                                                          operator_uow) -> None:
    async with operator_uow() as uow:
        assert await uow.tenants.delete(tenant_id)
        await uow.commit()
    with pytest.raises(NotFound) as excinfo:
        await books.create(tenant_id, BOOK)
    assert excinfo.value.kind == "tenant"
    with pytest.raises(NotFound):
        await users.create(tenant_id, {"name": "u", "full_name": ""})
    assert (await books.list(tenant_id, after=None, limit=10)).items == []
