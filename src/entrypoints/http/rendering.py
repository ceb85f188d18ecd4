"""Domain objects to JSON-ready dicts, cursors, and ETags."""

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import UUID

from starlette.exceptions import HTTPException

from domain.model import ApiKey, IssuedKey, Record, Tenant
from domain.pagination import Page


def record(item: Record) -> dict[str, Any]:
    return {"id": item.id, **item.fields(), "created_at": item.created_at,
            "updated_at": item.updated_at, "version": item.version}


def tenant(item: Tenant) -> dict[str, Any]:
    limit = item.rate_limit
    return {"id": item.id, "slug": item.slug, "name": item.name, "created_at": item.created_at,
            "rate_limit": {"rate": limit.rate, "burst": limit.burst} if limit else None}


def api_key(item: ApiKey) -> dict[str, Any]:
    """A key's metadata: never its secret, nor the hash of it."""
    return {"id": item.id, "name": item.name, "scopes": list(item.scopes),
            "created_at": item.created_at, "expires_at": item.expires_at,
            "last_used_at": item.last_used_at, "revoked_at": item.revoked_at}


def issued_key(item: IssuedKey) -> dict[str, Any]:
    """A new key with its secret, shown this once."""
    return {**api_key(item.key), "key": item.token}


def page(result: Page[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    next_cursor = encode_cursor(result.next_after) if result.next_after else None
    return {"items": [render(item) for item in result.items], "next_cursor": next_cursor}


def encode_cursor(after: UUID) -> str:
    return base64.urlsafe_b64encode(after.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> UUID | None:
    """The id a cursor continues after (None: the first page, also for an empty cursor); 400
    for anything this service did not issue."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 16 or encode_cursor(UUID(bytes=raw)) != cursor:
            raise ValueError(cursor)
        return UUID(bytes=raw)
    except (ValueError, binascii.Error):
        raise HTTPException(400, "the cursor is not one this service issued") from None


def etag(version: int) -> str:
    return f'"{version}"'


class EntityTags(NamedTuple):
    """A parsed If-Match or If-None-Match: `*`, or entity-tags as (weak, opaque) pairs."""

    any: bool
    tags: tuple[tuple[bool, str], ...]


_OPAQUE = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
_LIST_GAP = re.compile(r"[ \t]*(?:,[ \t]*)*")
_VERSION = re.compile(r"[1-9][0-9]{0,9}")  # the versions this service writes: 1 to 2^31 - 1
_MAX_VERSION = 2**31 - 1


def _gap_end(value: str, position: int) -> int:
    """Where the list separators (OWS and commas) starting at `position` end."""
    gap = _LIST_GAP.match(value, position)
    return gap.end() if gap else position


def parse_entity_tags(value: str) -> EntityTags | None:
    """RFC 9110 `"*" / #entity-tag` (lists with empty elements and OWS); None when invalid."""
    if value.strip(" \t") == "*":
        return EntityTags(True, ())
    tags, position = [], _gap_end(value, 0)
    while position < len(value):
        found = _OPAQUE.match(value, position)
        if found is None:
            return None
        tags.append((found.group(1) is not None, found.group(2)))
        position = found.end()
        gap = _gap_end(value, position)
        if gap < len(value) and "," not in value[position:gap]:
            return None  # two tags with no comma between them
        position = gap
    return EntityTags(False, tuple(tags)) if tags else None


def _version_of(opaque: str) -> int | None:
    if _VERSION.fullmatch(opaque) and (version := int(opaque)) <= _MAX_VERSION:
        return version
    return None


def if_match_versions(if_match: str | None) -> frozenset[int] | None:
    """The versions an If-Match header admits; None for no header or `*`. Weak tags never
    match (strong comparison), nor do tags this service cannot have issued: an empty set.
    400 when the header is not a list of entity-tags."""
    if if_match is None:
        return None
    parsed = parse_entity_tags(if_match)
    if parsed is None:
        raise HTTPException(400, "If-Match must be `*` or a list of entity-tags, such as \"3\"")
    if parsed.any:
        return None
    return frozenset(v for weak, opaque in parsed.tags
                     if not weak and (v := _version_of(opaque)) is not None)


def matches_none(if_none_match: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (weak comparison) or is `*`: 304.
    A header that is not a list of entity-tags matches nothing."""
    if if_none_match is None:
        return False
    parsed = parse_entity_tags(if_none_match)
    if parsed is None:
        return False
    return parsed.any or any(opaque == str(version) for _, opaque in parsed.tags)
