"""verifier.fast_json: the fast encoder writes what starlette's JSONResponse writes (the reference), byte for byte on
real reports and on generated JSON values without floats, the same parsed JSON with floats, and refuses what the
reference refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, tamper
from tracecert.verification.report import Report, Verdict
from verifier.fast_json import FastJSONResponse, dumps, reference_dumps


def _reports(world: TraceWorld) -> list[Report]:
    top, _mid, leaf = chain_of_three(world)
    verifier = world.verifier
    never = dict(leaf)
    never["anchor"] = {**leaf["anchor"], "root": "0x" + "11" * 32}
    odd = Report(None, 0, unknown=True)
    odd.add("ANCHORED", False, 'quotes " backslash \\ controls \x00\x1f\t\n line sep \u2028 emoji 😀 中文', zh="未存证")
    return [
        verifier.verify_bundle(leaf),
        verifier.verify_bundle(top),
        verifier.verify_bundle(tamper(leaf, "results.0.value", "0.000")),
        verifier.verify_bundle(never),
        verifier.verify_record(calibration(world.city, "HZ-NEVER", serial="X", item="压力表", u="0.01")),
        verifier.verify_bundle(leaf, as_of=0),
        odd,
    ]


def test_reports_are_written_byte_for_byte_as_the_reference(trace_world: TraceWorld) -> None:
    reports = _reports(trace_world)
    assert {r.verdict for r in reports} == {Verdict.VALID, Verdict.INVALID}
    for report in reports:
        body = report.to_dict()
        assert dumps(body) == reference_dumps(body)
        fast, reference = FastJSONResponse(body), JSONResponse(body)
        assert fast.body == reference.body and fast.headers == reference.headers
        assert report.to_json() == reference.body  # the report writing itself: the same bytes


JSON_SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text()


def _json(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=30,
    )


@settings(max_examples=300, deadline=None)
@given(_json(JSON_SCALARS))
def test_without_floats_the_bytes_are_the_reference_s(value: Any) -> None:
    assert dumps(value) == reference_dumps(value)


@settings(max_examples=300, deadline=None)
@given(_json(JSON_SCALARS | st.floats(allow_nan=False, allow_infinity=False)))
def test_with_floats_the_parsed_json_is_the_reference_s(value: Any) -> None:
    assert json.loads(dumps(value)) == json.loads(reference_dumps(value))


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        {"a": [1, math.inf]},
        [-math.inf],
        {"nan": "NaN", "x": math.nan},
        "\ud800",  # a lone surrogate is not UTF-8
        {"k": ["\udfff"]},
    ],
    ids=["nan", "inf-nested", "minus-inf", "nan-beside-the-word", "lone-surrogate", "lone-surrogate-nested"],
)
def test_what_the_reference_refuses_is_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        reference_dumps(value)
    with pytest.raises(ValueError):
        dumps(value)


@pytest.mark.parametrize(
    "value",
    [{"detail": "NaN"}, ["Infinity", "-Infinity"], {"NaN": 1.5e-07}],
    ids=["the-word-nan", "the-word-infinity", "a-key-and-a-small-float"],
)
def test_the_words_nan_and_infinity_in_strings_are_kept(value: Any) -> None:
    assert dumps(value) == reference_dumps(value)
