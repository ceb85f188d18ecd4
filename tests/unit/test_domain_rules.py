"""Field rules of books, cities, users and tenants: lengths, ranges, text a store can hold."""

from datetime import UTC, datetime

import pytest

from domain.errors import FieldError, InvalidInput
from domain.ids import new_id
from domain.model import Book, City, Tenant, User
from domain.model.rules import INT64_MAX, text_problem
from domain.tenancy import TenantId, is_valid_slug

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
TENANT = TenantId(new_id())
BOOK = {"name": "Dune", "author": "Frank Herbert", "release_year": 1965}
CITY = {"name": "Lagos", "population": 15_000_000}
USER = {"name": "ada", "full_name": "Ada Lovelace"}


def errors_of(excinfo: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {error.field: error.message for error in excinfo.value.errors}


def test_create_sets_identity_owner_timestamps_and_version_one() -> None:
    book = Book.create(TENANT, NOW, **BOOK)
    assert book.id.version == 7
    assert book.tenant_id == TENANT
    assert book.created_at == book.updated_at == NOW
    assert book.version == 1
    assert book.fields() == BOOK


@pytest.mark.parametrize(("field", "value"), [
    ("name", "x"), ("name", "x" * 200), ("author", "é" * 200), ("release_year", -5000),
    ("release_year", 9999), ("release_year", 0), ("name", "日本語の本 📚"),
])
def test_book_accepts_values_at_the_edges(field: str, value: object) -> None:
    assert getattr(Book.create(TENANT, NOW, **{**BOOK, field: value}), field) == value


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "", "must be 1 to 200 characters long"),
    ("name", "x" * 201, "must be 1 to 200 characters long"),
    ("author", "", "must be 1 to 200 characters long"),
    ("author", "a" * 201, "must be 1 to 200 characters long"),
    ("name", "nul\x00byte", "must not contain NUL characters"),
    ("author", "lone \ud800 surrogate", "must be valid Unicode (no lone surrogates)"),
    ("author", "\udfff", "must be valid Unicode (no lone surrogates)"),
    ("name", 42, "must be a string"),
    ("name", None, "must be a string"),
    ("release_year", -5001, "must be between -5000 and 9999"),
    ("release_year", 10_000, "must be between -5000 and 9999"),
    ("release_year", 2**64, "must be between -5000 and 9999"),
    ("release_year", "1965", "must be an integer"),
    ("release_year", 1965.0, "must be an integer"),
    ("release_year", True, "must be an integer"),
    ("release_year", None, "must be an integer"),
])
def test_book_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Book.create(TENANT, NOW, **{**BOOK, field: value})
    assert excinfo.value.errors == [FieldError(field, message)]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Book.create(TENANT, NOW, name="", release_year=1e9, colour="red")
    assert errors_of(excinfo) == {
        "colour": "is not a known field",
        "name": "must be 1 to 200 characters long",
        "author": "is required",
        "release_year": "must be an integer",
    }
    assert "author: is required" in str(excinfo.value)


def test_missing_fields_are_required_on_create() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        City.create(TENANT, NOW)
    assert errors_of(excinfo) == {"name": "is required", "population": "is required"}


def test_unknown_fields_are_rejected_on_create_and_change() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        User.create(TENANT, NOW, **USER, id=new_id())
    assert errors_of(excinfo) == {"id": "is not a known field"}
    for forbidden in ("id", "tenant_id", "version", "created_at", "updated_at", "nope"):
        with pytest.raises(InvalidInput) as excinfo:
            User.check_changes({forbidden: 1})
        assert errors_of(excinfo) == {forbidden: "is not a known field"}


def test_changes_are_partial_but_checked() -> None:
    Book.check_changes({})
    Book.check_changes({"release_year": 2000})
    with pytest.raises(InvalidInput) as excinfo:
        Book.check_changes({"name": "", "author": "ok"})
    assert errors_of(excinfo) == {"name": "must be 1 to 200 characters long"}


@pytest.mark.parametrize("population", [0, 1, INT64_MAX])
def test_city_population_range_accepts(population: int) -> None:
    assert City.create(TENANT, NOW, name="X", population=population).population == population


@pytest.mark.parametrize("population", [-1, INT64_MAX + 1, 2**100])
def test_city_population_range_rejects(population: int) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        City.create(TENANT, NOW, name="X", population=population)
    assert errors_of(excinfo) == {"population": f"must be between 0 and {INT64_MAX}"}


def test_user_full_name_may_be_empty_but_name_may_not() -> None:
    assert User.create(TENANT, NOW, name="u", full_name="").full_name == ""
    assert User.create(TENANT, NOW, name="u", full_name="f" * 200).full_name == "f" * 200
    with pytest.raises(InvalidInput) as excinfo:
        User.create(TENANT, NOW, name="", full_name="f" * 201)
    assert errors_of(excinfo) == {"name": "must be 1 to 200 characters long",
                                  "full_name": "must be 0 to 200 characters long"}


def test_changed_applies_changes_and_bumps_version() -> None:
    book = Book.create(TENANT, NOW, **BOOK)
    later = datetime(2025, 1, 1, tzinfo=UTC)
    changed = book.changed({"name": "Dune Messiah"}, later)
    assert (changed.name, changed.author, changed.version) == ("Dune Messiah", book.author, 2)
    assert (changed.id, changed.created_at, changed.updated_at) == (book.id, NOW, later)
    assert book.name == "Dune" and book.version == 1


def test_text_problem() -> None:
    assert text_problem("plain ✓") is None
    assert text_problem("") is None
    assert text_problem("\x00") == "must not contain NUL characters"
    assert text_problem("\ud83d") == "must be valid Unicode (no lone surrogates)"
    assert text_problem("\ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16")) is None


@pytest.mark.parametrize("slug", ["abc", "a-b", "a1-2-c3", "0ab", "a" * 63, "a--b"])
def test_valid_slugs(slug: str) -> None:
    assert is_valid_slug(slug)
    assert Tenant.create(slug, "Name", NOW).slug == slug


@pytest.mark.parametrize("slug", ["", "ab", "a" * 64, "-abc", "abc-", "ABC", "ab_c", "ab c",
                                  "abc\n", "äbc", "ab.c", "abc\x00"])
def test_invalid_slugs(slug: str) -> None:
    assert not is_valid_slug(slug)
    with pytest.raises(InvalidInput) as excinfo:
        Tenant.create(slug, "Name", NOW)
    assert list(errors_of(excinfo)) == ["slug"]


@pytest.mark.parametrize(("name", "message"), [
    ("", "must be 1 to 200 characters long"), ("n" * 201, "must be 1 to 200 characters long"),
    ("a\x00", "must not contain NUL characters"),
    ("\udc80", "must be valid Unicode (no lone surrogates)"), (None, "must be a string"),
])
def test_tenant_name_rules(name: object, message: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Tenant.create("good-slug", name, NOW)  # type: ignore[arg-type]
    assert errors_of(excinfo) == {"name": message}


def test_tenant_create() -> None:
    tenant = Tenant.create("acme", "Acme Inc.", NOW)
    assert (tenant.slug, tenant.name, tenant.created_at) == ("acme", "Acme Inc.", NOW)
    assert tenant.id.version == 7


def test_non_string_slug_is_invalid_input_not_a_crash() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        Tenant.create(123, "Name", NOW)  # type: ignore[arg-type]
    assert list(errors_of(excinfo)) == ["slug"]
