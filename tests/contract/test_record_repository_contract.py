"""RecordRepository, on books: add, get, keyset list, filters, save (of a changed record) and
delete."""

from datetime import timedelta

from domain.ids import new_id
from domain.model import BOOKS, Book, Tenant
from tests.contract.conftest import UowFactories
from tests.contract.helpers import assert_plain, assert_utc, book, utcnow


async def add_books(uow_factories: UowFactories, tenant: Tenant, *books: Book) -> None:
    async with uow_factories.tenant(tenant.id) as uow:
        for record in books:
            await uow.records(BOOKS).add(record)
        await uow.commit()


async def test_add_then_get_round_trips_every_field(uow_factories: UowFactories,
                                                    tenant: Tenant) -> None:
    record = book(tenant.id, name="Ünïcødé ✓ 📚", author="a" * 200, release_year=-5000)
    await add_books(uow_factories, tenant, record)
    async with uow_factories.tenant(tenant.id) as uow:
        stored = await uow.records(BOOKS).get(record.id)
        assert await uow.records(BOOKS).get(new_id()) is None
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
            page = list(await uow.records(BOOKS).list(after=after, limit=3))
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
        first = list(await uow.records(BOOKS).list(after=None, limit=2))
        assert await uow.records(BOOKS).delete(first[-1].id, expected_version=None)
        late = book(tenant.id, name="late")
        await uow.records(BOOKS).add(late)
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        rest = list(await uow.records(BOOKS).list(after=first[-1].id, limit=10))
        assert [b.name for b in rest] == ["B2", "B3", "late"]
        assert list(await uow.records(BOOKS).list(after=late.id, limit=10)) == []
        assert len(await uow.records(BOOKS).list(after=None, limit=1)) == 1


async def test_list_filters_by_exact_value(uow_factories: UowFactories, tenant: Tenant) -> None:
    records = [book(tenant.id, name=f"B{i}", author=["Le Guin", "Herbert", "le guin"][i % 3])
               for i in range(9)]
    await add_books(uow_factories, tenant, *records)
    wanted = [r.name for r in records if r.author == "Le Guin"]
    async with uow_factories.tenant(tenant.id) as uow:
        books = uow.records(BOOKS)
        first = list(await books.list(after=None, limit=2, filters={"author": "Le Guin"}))
        rest = list(await books.list(after=first[-1].id, limit=5,
                                     filters={"author": "Le Guin"}))
        none = await books.list(after=None, limit=5, filters={"author": "Nobody"})
        unfiltered = await books.list(after=None, limit=50, filters={})
    assert [b.name for b in first + rest] == wanted
    assert list(none) == []
    assert len(unfiltered) == 9


async def test_save_stores_the_changed_record_bumps_version_and_sets_updated_at(
        uow_factories: UowFactories, tenant: Tenant) -> None:
    record = book(tenant.id)
    await add_books(uow_factories, tenant, record)
    later = record.created_at + timedelta(minutes=5, microseconds=7)
    changes: dict[str, object] = {"name": "Children of Dune", "release_year": 1976}
    async with uow_factories.tenant(tenant.id) as uow:
        current = await uow.records(BOOKS).get(record.id, for_update=True)
        assert current == record
        assert await uow.records(BOOKS).save(current.changed(changes, later),
                                             expected_version=current.version) is True
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        updated = await uow.records(BOOKS).get(record.id)
    assert updated == record.changed(changes, later)
    assert (updated.version, updated.author, updated.created_at) == (2, record.author,
                                                                     record.created_at)
    assert updated.updated_at == later  # to the microsecond
    assert_utc(updated.updated_at)
    assert_utc(updated.created_at)
    assert_plain(updated)


async def test_save_with_expected_version(uow_factories: UowFactories, tenant: Tenant) -> None:
    record = book(tenant.id)
    await add_books(uow_factories, tenant, record)
    async with uow_factories.tenant(tenant.id) as uow:
        books = uow.records(BOOKS)
        v1 = await books.get(record.id, for_update=True)
        v2 = v1.changed({"name": "v2"}, utcnow())
        assert await books.save(v2, expected_version=1) is True
        stale = await books.save(v1.changed({"name": "stale"}, utcnow()), expected_version=1)
        ahead = await books.save(v2.changed({"name": "ahead"}, utcnow()), expected_version=3)
        assert await books.get(record.id) == v2  # the refused saves wrote nothing
        v3 = v2.changed({"name": "v3"}, utcnow())
        assert await books.save(v3, expected_version=2) is True
        await uow.commit()
    assert v2.version == 2
    assert stale is False and ahead is False
    assert (v3.name, v3.version) == ("v3", 3)
    async with uow_factories.tenant(tenant.id) as uow:
        stored = await uow.records(BOOKS).get(record.id)
    assert stored == v3 and (stored.name, stored.version) == ("v3", 3)


async def test_save_of_a_missing_record_is_false_and_adds_nothing(uow_factories: UowFactories,
                                                                  tenant: Tenant) -> None:
    ghost = book(tenant.id)  # never added
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).save(ghost.changed({"name": "x"}, utcnow()),
                                             expected_version=1) is False
        assert await uow.records(BOOKS).save(ghost, expected_version=0) is False
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).get(ghost.id) is None
        assert list(await uow.records(BOOKS).list(after=None, limit=10)) == []


async def test_delete(uow_factories: UowFactories, tenant: Tenant) -> None:
    keep, drop = book(tenant.id, name="keep"), book(tenant.id, name="drop")
    await add_books(uow_factories, tenant, keep, drop)
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).delete(drop.id, expected_version=None) is True
        assert await uow.records(BOOKS).delete(drop.id, expected_version=None) is False
        assert await uow.records(BOOKS).delete(new_id(), expected_version=None) is False
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).get(drop.id) is None
        assert [b.id for b in await uow.records(BOOKS).list(after=None, limit=10)] == [keep.id]


async def test_delete_with_expected_version(uow_factories: UowFactories, tenant: Tenant) -> None:
    record = book(tenant.id)
    await add_books(uow_factories, tenant, record)
    async with uow_factories.tenant(tenant.id) as uow:
        books = uow.records(BOOKS)
        assert await books.save(record.changed({"name": "v2"}, utcnow()), expected_version=1)
        assert await books.delete(record.id, expected_version=1) is False
        assert await books.get(record.id) is not None
        assert await books.delete(record.id, expected_version=2) is True
        await uow.commit()
    async with uow_factories.tenant(tenant.id) as uow:
        assert await uow.records(BOOKS).get(record.id) is None
