"""What a person reads and writes: times as local date-times (shown and parsed), and the language to write in.

What the chain and the services keep as unix seconds is shown as a local date-time, in China Standard Time (UTC+8)
by default everywhere a person reads a time (web page, CLI, texts in reports); machines keep unix seconds beside
it. The command line speaks Chinese when the locale is Chinese (``LANG=zh_CN.UTF-8``) and English otherwise, with
the same machine codes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping

__all__ = ["CHINA_HOURS", "DAY", "local_time", "parse_moment", "speaks_chinese"]

#: The time zone a person is shown times in unless told otherwise (北京时间).
CHINA_HOURS = 8

#: Seconds in a day.
DAY = 86_400

_UNIX = re.compile(r"\d{1,12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def local_time(seconds: int | float | dt.datetime, tz_hours: int = CHINA_HOURS, *, with_zone: bool = True) -> str:
    """``2026-12-04 20:12`` (and `` (UTC+8)``) for a unix time, or a datetime (one without a zone, as SQLite gives
    them back, is UTC); times outside what a calendar holds say so.

    Minutes are enough for what people compare (a revocation's effect, an anchoring); seconds are kept where
    machines read them.
    """
    if isinstance(seconds, dt.datetime):
        seconds = (seconds if seconds.tzinfo else seconds.replace(tzinfo=dt.UTC)).timestamp()
    zone = dt.timezone(dt.timedelta(hours=tz_hours))
    try:
        text = dt.datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        text = "9999-12-31 23:59" if seconds > 0 else "0001-01-01 00:00"
    if not with_zone:
        return text
    sign = "+" if tz_hours >= 0 else "-"
    return f"{text} (UTC{sign}{abs(tz_hours)})"


def speaks_chinese(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user's locale is Chinese: the first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return value.lower().startswith("zh")
    return False


def parse_moment(text: str, tz_hours: int = CHINA_HOURS) -> tuple[int, bool]:
    """A moment a person wrote, as unix seconds, and whether it was a bare date.

    ``1796554651`` (unix seconds, up to 12 digits), ``2026-12-04`` (the start of that day in the zone; the caller
    decides whether a date means its start or its end), or an ISO 8601 date-time (``2026-12-04T20:12``; without
    an offset it is in the zone, UTC+8 by default).

    Raises:
        ValueError: none of these, or a date no calendar holds.
    """
    text = text.strip()
    zone = dt.timezone(dt.timedelta(hours=tz_hours))
    if _UNIX.fullmatch(text):
        return int(text), False
    try:
        if _DATE.fullmatch(text):
            day = dt.date.fromisoformat(text)
            return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()), True
        moment = dt.datetime.fromisoformat(text)
        return int((moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()), False
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD), an ISO date-time or unix seconds") from exc
