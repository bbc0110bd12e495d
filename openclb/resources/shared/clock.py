"""Wall-clock times as the API prints them: ``YYYY-MM-DD HH:MM:SS`` (UTC+8, like the real service)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))


def api_time(moment: datetime | None = None) -> str:
    return (moment or datetime.now(BEIJING)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def sortable_now() -> str:
    """Creation stamp with microseconds, so rows created in one second keep their order."""
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")


def api_stamp(stamp: str) -> str:
    """A stored creation stamp as the API prints it (to the second)."""
    return stamp[:19]
