"""What a person writes and reads: one parser of moments, one formatter of local times (tracecert.human)."""

from __future__ import annotations

import datetime as dt

import pytest

from tracecert.human import DAY, local_time, parse_moment

#: text → (unix seconds, a bare date?)
MOMENTS = [
    ("1796554651", 1796554651, False),  # unix seconds
    (" 0 ", 0, False),
    ("2026-12-04", 1796313600, True),  # the start of the day in China (UTC+8)
    ("2026-12-04T20:12", 1796386320, False),  # naive: China time
    ("2026-12-04T12:12:00+00:00", 1796386320, False),  # with an offset
    ("1957-08-13", -390902400, True),  # PTB's example dates are this old
]


@pytest.mark.parametrize(("text", "seconds", "is_date"), MOMENTS)
def test_a_moment_a_person_writes(text: str, seconds: int, is_date: bool) -> None:
    assert parse_moment(text) == (seconds, is_date)


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01", "2026-02-30", "1234567890123", "12:00", "2026/12/04"])
def test_what_is_not_a_moment(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        parse_moment(text)


def test_a_parsed_date_reads_back_as_its_day() -> None:
    start, _ = parse_moment("2026-12-04")
    assert local_time(start, with_zone=False) == "2026-12-04 00:00"
    assert local_time(start + DAY - 1, with_zone=False) == "2026-12-04 23:59"


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 12, 4, 12, 12, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 4, 12, 12),  # as SQLite gives a stored time back: no zone, UTC
        dt.datetime(2026, 12, 4, 20, 12, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    ],
)
def test_a_stored_datetime_reads_as_the_same_local_time(moment: dt.datetime) -> None:
    assert local_time(moment) == "2026-12-04 20:12 (UTC+8)"
