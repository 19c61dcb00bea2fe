"""What a person reads: times as local date-times, and the language to write in.

What the chain and the services keep as unix seconds is shown as a local date-time, in China Standard Time (UTC+8)
by default everywhere a person reads a time (web page, CLI, texts in reports); machines keep unix seconds beside
it. The command line speaks Chinese when the locale is Chinese (``LANG=zh_CN.UTF-8``) and English otherwise, with
the same machine codes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

__all__ = ["CHINA_HOURS", "local_time", "speaks_chinese"]

#: The time zone a person is shown times in unless told otherwise (北京时间).
CHINA_HOURS = 8


def local_time(seconds: int | float, tz_hours: int = CHINA_HOURS, *, with_zone: bool = True) -> str:
    """``2026-12-04 20:12`` (and `` (UTC+8)``) for a unix time; times outside what a calendar holds say so.

    Minutes are enough for what people compare (a revocation's effect, an anchoring); seconds are kept where
    machines read them.
    """
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
