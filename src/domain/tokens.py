"""The API key format: `ck_<tenant id hex><key id hex>_<secret>`.

Carrying both ids lets a key be found by its primary key inside its own tenant's scope
(so row-level security and sharding by tenant need no cross-tenant lookup), then verified."""

from uuid import UUID

PREFIX = "ck_"
_IDS_LENGTH = 64
_HEX = frozenset("0123456789abcdef")


def format_token(tenant_id: UUID, key_id: UUID, secret: str) -> str:
    return f"{PREFIX}{tenant_id.hex}{key_id.hex}_{secret}"


def parse_token(token: str) -> tuple[UUID, UUID, str] | None:
    """(tenant id, key id, secret) of a well-formed token, or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    ids, sep, secret = token[len(PREFIX):].partition("_")
    if not sep or len(ids) != _IDS_LENGTH or not secret or not _HEX.issuperset(ids):
        return None
    try:
        return UUID(hex=ids[:32]), UUID(hex=ids[32:]), secret
    except ValueError:
        return None
