"""Tenant identity, carried by every unit of work and every tenant-owned record."""

import re
from typing import NewType
from uuid import UUID

TenantId = NewType("TenantId", UUID)

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$"
_SLUG = re.compile(SLUG_PATTERN)


def is_valid_slug(slug: str) -> bool:
    """3-63 characters of a-z, 0-9 and '-', not starting or ending with '-'."""
    return bool(_SLUG.fullmatch(slug))
