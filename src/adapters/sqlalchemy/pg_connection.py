"""An asyncpg connection that sends a transaction's settings in the same message as its BEGIN.

Every PostgreSQL transaction of the service starts with `set_config(…, true)` calls (tenant,
timeouts). Sent on their own they cost a round trip per transaction; appended to the BEGIN
that asyncpg sends as a simple query, they cost none. The settings are literals the service
formats itself (a UUID and integers), never client text."""

from typing import Any

import asyncpg


class ScopedBeginConnection(asyncpg.Connection):  # type: ignore[misc]
    """`begin_suffix`, when set, rides along with the next BEGIN and is then cleared."""

    __slots__ = ("begin_suffix",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.begin_suffix: str | None = None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        suffix = self.begin_suffix
        if suffix is not None and not args and query.startswith("BEGIN"):
            self.begin_suffix = None
            query = f"{query.rstrip().rstrip(';')}; {suffix}"
        return await super().execute(query, *args, timeout=timeout)  # type: ignore[no-any-return]
