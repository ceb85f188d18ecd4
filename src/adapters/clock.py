"""The system clock."""

from datetime import UTC, datetime


class SystemClock:
    """Current UTC time, timezone-aware."""

    def now(self) -> datetime:
        return datetime.now(UTC)
