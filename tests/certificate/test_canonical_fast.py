"""The fast path of canonicalize (C JSON encoder for number-free values) is byte-identical to RFC 8785."""

from __future__ import annotations

import json
from pathlib import Path

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecert.certificate.canonical import _jcs_without_numbers, canonicalize

# Strings over all of Unicode, including controls, quotes, backslashes, U+2028, astral characters and lone
# surrogates (which the fast path must hand over).
TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
KEYS = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
               max_size=8)
# Numbers now and then: a value holding one anywhere must leave the fast path (JCS formats numbers its own way).
NUMBERS = st.integers(min_value=-(2**53), max_value=2**53) | st.floats(allow_nan=False, allow_infinity=False)
VALUES = st.recursive(
    st.none() | st.booleans() | TEXT | NUMBERS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_fast_path_equals_reference(value: object) -> None:
    try:
        reference = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert canonicalize(value) == reference
    fast = _jcs_without_numbers(value)
    assert fast is None or fast == reference


def test_fast_path_takes_records_and_leaves_numbers() -> None:
    record = json.loads((Path(__file__).parent / "data" / "verification-record.json").read_text(encoding="utf-8"))
    assert _jcs_without_numbers(record) == rfc8785.dumps(record)
    assert _jcs_without_numbers({"a": 1}) is None
    assert _jcs_without_numbers({"a": ["x", {"b": [True, 2.5]}]}) is None
    assert _jcs_without_numbers({"a": "\ud800"}) is None  # lone surrogate: the reference implementation decides
    assert _jcs_without_numbers({"\U0001f600": "x", "\uffff": "y"}) is None  # astral key: UTF-16 order differs
