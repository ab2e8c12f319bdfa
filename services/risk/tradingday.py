"""Trading days: which day a moment belongs to and when the next one starts.

The daily loss limit and its cooldown are counted per trading day, whose boundary is a
wall-clock time in a named zone (UTC midnight by default). Integer microseconds in and
out, so a fake clock can land exactly on the boundary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _local(now_micros: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=now_micros)).astimezone(zone)


def trading_day(now_micros: int, start: time, zone: ZoneInfo) -> date:
    """The trading day `now` falls in: named by the local date on which it started."""
    local = _local(now_micros, zone)
    day = local.date()
    return day if local.time() >= start else day - timedelta(days=1)


def next_day_start(now_micros: int, start: time, zone: ZoneInfo) -> int:
    """Epoch micros at which the trading day after the one holding `now` begins."""
    following = trading_day(now_micros, start, zone) + timedelta(days=1)
    boundary = datetime.combine(following, start, tzinfo=zone)
    return (boundary - _EPOCH) // _MICRO
