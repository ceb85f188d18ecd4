"""RecordRepository, on books: add, get, keyset list, filters, update and delete."""

from datetime import timedelta

from domain.ids import new_id
from domain.model import Book, Tenant
from tests.contract.conftest import UowFactories
from tests.contract.helpers import assert_plain, assert_utc, book, utcnow


async def add_books(uow_factories: UowFactories, tenant: Tenant, *books: Book) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        for record in books:
            await uow.books.add(record)
        await uow.commit()


async def test_add_then_get_round_trips_every_field(uow_factories: UowFactories,
                                                    tenant: Tenant) -> None:
    record = book(tenant.id, name="Ünïcødé ✓ 📚", author="a" * 200, release_year=-5000)
    await add_books(uow_factories, tenant, record)
    async with uow_factories.tenant(tenant.id) as uow:
        stored = await uow.books.get(record.id)
        assert await uow.books.get(new_id()) is None
    assert stored == record
    assert isinstance(stored, Book)
    assert_utc(stored.created_at)
    assert_utc(stored.updated_at)
    assert stored.created_at == record.created_at  # to the microsecond
    assert_plain(stored)


async def test_list_pages_in_creation_order(uow_factories: UowFactories,
                                            tenant: Tenant) -> None:
    created = [book(tenant.id, name=f"Book {i}") for i in range(7)]
    for record in created:  # one unit of work each, as one request after another
        await add_books(uow_factories, tenant, record)
    pages, after = [], None
    async with uow_factories.tenant(tenant.id) as uow:
        while True:
            page = list(await uow.books.list(after=after, limit=3))
            for record in page:
                assert_plain(record)
            pages.append([b.name for b in page])
            if len(page) < 3:
                break
            after = page[-1].id
    assert pages == [["Book 0", "Book 1", "Book 2"], ["Book 3", "Book 4", "Book 5"], ["Book 6"]]


async def test_list_continues_after_a_deleted_cursor_and_sees_later_inserts(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    created = [book(tenant.id, name=f"B{i}") for i in range(4)]
    await add_books(uow_factories, tenant, *created)
    async with uow_factories.tenant(tenant.id) as uow:
        first = list(await uow.books.list(after=None, limit=2))
        assert await uow.books.delete(first[-1].id, expected_version=None)
        late = book(tenant.id, name="late")
        await uow.books.add(late)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        rest = list(await uow.books.list(after=first[-1].id, limit=10))
        assert [b.name for b in rest] == ["B2", "B3", "late"]
        assert list(await uow.books.list(after=late.id, limit=10)) == []
        assert len(await uow.books.list(after=None, limit=1)) == 1


async def test_list_filters_by_exact_value(uow_factories: UowFactories, tenant: Tenant) -> None:
    records = [book(tenant.id, name=f"B{i}", author=["Le Guin", "Herbert", "le guin"][i % 3])
               for i in range(9)]
    await add_books(uow_factories, tenant, *records)
    wanted = [r.name for r in records if r.author == "Le Guin"]
    async with uow_factories.tenant(tenant.id) as uow:
        first = list(await uow.books.list(after=None, limit=2, filters={"author": "Le Guin"}))
        rest = list(await uow.books.list(after=first[-1].id, limit=5,
                                         filters={"author": "Le Guin"}))
        none = await uow.books.list(after=None, limit=5, filters={"author": "Nobody"})
        unfiltered = await uow.books.list(after=None, limit=50, filters={})
    assert [b.name for b in first + rest] == wanted
    assert list(none) == []
    assert len(unfiltered) == 9


async def test_update_changes_given_fields_bumps_version_and_sets_updated_at(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    record = book(tenant.id)
    await add_books(uow_factories, tenant, record)
    later = record.created_at + timedelta(minutes=5, microseconds=7)
    async with uow_factories.tenant(tenant.id) as uow:
        updated = await uow.books.update(record.id, {"name": "Children of Dune",
                                                     "release_year": 1976},
                                         now=later, expected_version=None)
        await uow.commit()
    assert updated == record.changed({"name": "Children of Dune", "release_year": 1976}, later)
    assert (updated.version, updated.author, updated.created_at) == (2, record.author,
                                                                     record.created_at)
    assert_utc(updated.updated_at)
    assert_utc(updated.created_at)
    assert_plain(updated)
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.get(record.id) == updated


async def test_update_with_expected_version(uow_factories: UowFactories, tenant: Tenant) -> None:
    record = book(tenant.id)
    await add_books(uow_factories, tenant, record)
    async with uow_factories.tenant(tenant.id) as uow:
        v2 = await uow.books.update(record.id, {"name": "v2"}, now=utcnow(), expected_version=1)
        stale = await uow.books.update(record.id, {"name": "stale"}, now=utcnow(),
                                       expected_version=1)
        ahead = await uow.books.update(record.id, {"name": "ahead"}, now=utcnow(),
                                       expected_version=3)
        v3 = await uow.books.update(record.id, {"name": "v3"}, now=utcnow(), expected_version=2)
        await uow.commit()
    assert v2 is not None and v2.version == 2
    assert stale is None and ahead is None
    assert v3 is not None and (v3.name, v3.version) == ("v3", 3)
    async with uow_factories.tenant(tenant.id) as uow:
        assert (await uow.books.get(record.id)).name == "v3"


async def test_update_of_a_missing_record_is_none(uow_factories: UowFactories,
                                                  tenant: Tenant) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.update(new_id(), {"name": "x"}, now=utcnow(),
                                      expected_version=None) is None


async def test_delete(uow_factories: UowFactories, tenant: Tenant) -> None:
    keep, drop = book(tenant.id, name="keep"), book(tenant.id, name="drop")
    await add_books(uow_factories, tenant, keep, drop)
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.delete(drop.id, expected_version=None) is True
        assert await uow.books.delete(drop.id, expected_version=None) is False
        assert await uow.books.delete(new_id(), expected_version=None) is False
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.get(drop.id) is None
        assert [b.id for b in await uow.books.list(after=None, limit=10)] == [keep.id]


async def test_delete_with_expected_version(uow_factories: UowFactories, tenant: Tenant) -> None:
    record = book(tenant.id)
    await add_books(uow_factories, tenant, record)
    async with uow_factories.tenant(tenant.id) as uow:
        await uow.books.update(record.id, {"name": "v2"}, now=utcnow(), expected_version=None)
        assert await uow.books.delete(record.id, expected_version=1) is False
        assert await uow.books.get(record.id) is not None
        assert await uow.books.delete(record.id, expected_version=2) is True
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.books.get(record.id) is None
