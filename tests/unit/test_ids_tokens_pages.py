"""UUIDv7 ids, the API key token format, and keyset pages."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest

from domain.ids import new_id
from domain.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from domain.tokens import PREFIX, format_token, parse_token


def test_new_id_is_an_rfc_9562_version_7_uuid() -> None:
    value = new_id()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert (value.int >> 76) & 0xF == 7
    assert (value.int >> 62) & 0b11 == 0b10


def test_new_id_carries_the_current_unix_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    millis = new_id().int >> 80
    after = time.time_ns() // 1_000_000
    assert before <= millis <= after + 1  # +1: the counter may carry into the next millisecond


def test_new_ids_are_strictly_increasing_even_within_one_millisecond() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert [i.bytes for i in ids] == sorted(i.bytes for i in ids)
    assert [i.hex for i in ids] == sorted(i.hex for i in ids)
    assert all(i.version == 7 for i in ids)


def test_new_ids_from_many_threads_are_unique_and_each_thread_sees_them_increase() -> None:
    def batch(_: int) -> list[UUID]:
        return [new_id() for _ in range(2000)]

    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(batch, range(4)))
    assert all(b == sorted(b) for b in batches)
    assert len({i for b in batches for i in b}) == 8000


def test_new_id_low_bits_are_random() -> None:
    assert len({new_id().int & ((1 << 62) - 1) for _ in range(100)}) == 100


T, K = UUID("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"), UUID("0190a1b2-c3d4-7e60-9a6b-7c8d9e0f1a2c")


def test_token_format() -> None:
    token = format_token(T, K, "s3cr-et_x")
    assert token == f"ck_{T.hex}{K.hex}_s3cr-et_x"
    assert token.startswith(PREFIX)


@pytest.mark.parametrize("secret", ["a", "s3cr-et_with_underscores", "x" * 100,
                                    "Zm9v-YmFy_YmF6LXF1eA"])
def test_token_round_trip(secret: str) -> None:
    assert parse_token(format_token(T, K, secret)) == (T, K, secret)


def test_token_round_trip_of_fresh_ids() -> None:
    tenant, key = new_id(), new_id()
    assert parse_token(format_token(tenant, key, "secret")) == (tenant, key, "secret")


GOOD_IDS = T.hex + K.hex


@pytest.mark.parametrize("token", [
    "",
    "ck_",
    "Bearer ck_" + GOOD_IDS + "_secret",
    "CK_" + GOOD_IDS + "_secret",
    "xk_" + GOOD_IDS + "_secret",
    GOOD_IDS + "_secret",
    "ck_" + GOOD_IDS,  # no separator
    "ck_" + GOOD_IDS + "_",  # empty secret
    "ck_" + GOOD_IDS[:-1] + "_secret",  # ids too short
    "ck_" + GOOD_IDS + "0_secret",  # ids too long
    "ck_" + "g" * 64 + "_secret",  # not hex
    "ck_" + str(T) + "_secret",  # hyphenated uuid
    "ck_" + GOOD_IDS.upper() + "_secret",  # not the form we issue
    "ck_ " + GOOD_IDS[1:] + "_secret",  # whitespace that int() would tolerate
    "ck_+" + GOOD_IDS[1:] + "_secret",  # a sign that int() would tolerate
    "ck_\u0660" + GOOD_IDS[1:] + "_secret",  # an Arabic-Indic zero that int() would accept
    "ck_\uff10" + GOOD_IDS[1:] + "_secret",  # a fullwidth zero
    "ck_" + GOOD_IDS + "_" + "s" * 200,  # absurdly long
    "ck__" + GOOD_IDS + "secret",
])
def test_malformed_tokens_are_rejected(token: str) -> None:
    assert parse_token(token) is None


def test_page_from_overfetch_with_more_rows_than_the_limit() -> None:
    rows = [new_id() for _ in range(4)]
    page = Page.from_overfetch(rows, 3, lambda r: r)
    assert list(page.items) == rows[:3]
    assert page.next_after == rows[2]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_page_from_overfetch_at_the_end(count: int) -> None:
    rows = [new_id() for _ in range(count)]
    page = Page.from_overfetch(rows, 3, lambda r: r)
    assert list(page.items) == rows
    assert page.next_after is None


def test_page_uses_the_key_function() -> None:
    rows = [{"id": new_id()} for _ in range(3)]
    page = Page.from_overfetch(rows, 2, lambda r: r["id"])
    assert page.next_after == rows[1]["id"]


def test_page_limits() -> None:
    assert (DEFAULT_LIMIT, MAX_LIMIT) == (50, 100)
