"""What the command line reads before anything is sent: CSV rows as records, times, scopes and the contract's errors
as codes."""

from __future__ import annotations

from typing import Any

import pytest

from registry.cli.common import parse_time, revert_code
from registry.cli.inputs import csv_records
from registry.onboarding import parse_scope

# ====================================================================== CSV, options


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # nested objects and arrays by index; empty cells are left out
        (
            "certificate_number,item.name,persons.0.name,persons.1.name,remarks\nA1,秤,张三,李四,\n",
            [
                (
                    2,
                    {
                        "certificate_number": "A1",
                        "item": {"name": "秤"},
                        "persons": [{"name": "张三"}, {"name": "李四"}],
                    },
                )
            ],
        ),
        # booleans only where the record has one
        (
            "customer.mandatory_verification,remarks\n是,true\n",
            [(2, {"customer": {"mandatory_verification": True}, "remarks": "true"})],
        ),
        # quoted cells keep their commas; blank lines are skipped
        ('a,b\n"x, y",z\n\n', [(2, {"a": "x, y", "b": "z"})]),
    ],
)
def test_csv_rows_become_records(text: str, expected: list[tuple[int, dict[str, Any]]]) -> None:
    assert [(line, record) for line, record, _ in csv_records(text)] == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a..b\nx\n", "dotted paths"),  # an empty path segment
        ("persons.0.name,persons.2.name\nx,y\n", "without gaps"),  # an array with a hole
        ("a,a\nx,y\n", "twice"),  # the same column twice
        ("a,a.b\nx,y\n", "conflicts"),  # a value and an object at one path
        ("customer.mandatory_verification\nmaybe\n", "not true or false"),
        ("a\nx,y\n", "2 cells but 1 columns"),
    ],
)
def test_csv_problems_are_named(text: str, problem: str) -> None:
    errors = [error for _, _, error in csv_records(text)]
    assert errors and errors[0] is not None and problem in errors[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01", 1767196800),  # midnight in China (UTC+8)
        ("2026-01-01T08:00:00+08:00", 1767225600),
        ("2026-01-01T08:00:00", 1767225600),  # no offset: China time
        ("1767225600", 1767225600),  # Unix seconds
    ],
)
def test_parse_time(value: str, expected: int) -> None:
    assert parse_time(value) == expected


def test_parse_scope_and_revert_codes() -> None:
    scope = parse_scope(["JJG443=VERIFY", "JJG52=verify,CALIBRATE", "JJG52=VERIFY"])
    assert {k: int(v) for k, v in scope.items()} == {"JJG443": 1, "JJG52": 3}
    assert revert_code("TrustRegistryOutsideJurisdiction") == "OUTSIDE_JURISDICTION"
    assert revert_code("CertificateRegistryNotLabAdmin") == "NOT_LAB_ADMIN"


@pytest.mark.parametrize("value", ["", "tomorrow", "2026-13-01", "2026/01/01", "1234567890123"])
def test_what_is_not_a_time(value: str) -> None:
    from registry.cli.common import CliError

    with pytest.raises(CliError) as refused:
        parse_time(value)
    assert (refused.value.code, refused.value.exit_code) == ("USAGE", 2)


def test_a_date_ends_at_the_next_midnight() -> None:
    assert parse_time("2026-01-01", end_of_day=True) == parse_time("2026-01-02") == 1767196800 + 86_400
