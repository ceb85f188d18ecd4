"""Domain objects to JSON-ready dicts, cursors, and ETags."""

import base64
import binascii
from collections.abc import Callable
from typing import Any
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


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header requires; None for no header or `*`; -1 never matches."""
    if if_match is None or if_match.strip() == "*":
        return None
    for candidate in if_match.split(","):
        candidate = candidate.strip()
        if len(candidate) > 2 and candidate[0] == candidate[-1] == '"' and candidate[1:-1].isdigit():
            return int(candidate[1:-1])
    return -1


def matches_none(if_none_match: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (or `*`): answer 304."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag(version) in tags
