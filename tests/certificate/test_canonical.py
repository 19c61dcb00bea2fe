"""Canonical JSON (RFC 8785), the certificate digest and its domain prefix, lab ids, hex helpers."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecert.certificate.canonical import (
    CERTIFICATE_DOMAIN,
    LAB_DOMAIN,
    MAX_JSON_DEPTH,
    canonical_record,
    canonicalize,
    canonicalize_json,
    certificate_digest,
    document_digest,
    from_hex,
    lab_id,
    normalize_record_json,
    parse_json,
    record_to_json,
    to_hex,
)
from tracecert.certificate.errors import CanonicalizationFailed, JsonTooDeep, MalformedValue
from tracecert.certificate.model import record_from_json

from .conftest import calibration_json, verification_json

# RFC 8785 §3.2.2: the "numbers, string, literals" example, input text and expected canonical bytes.
RFC8785_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC8785_OUTPUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
).encode()

# RFC 8785 §3.2.3: property sorting by UTF-16 code units.
RFC8785_SORT_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC8785_SORT_KEYS = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_example_bytes() -> None:
    assert canonicalize_json(RFC8785_INPUT) == RFC8785_OUTPUT


def test_rfc8785_sorting_by_utf16_code_units() -> None:
    out = canonicalize_json(RFC8785_SORT_INPUT)
    assert list(json.loads(out)) == RFC8785_SORT_KEYS
    assert out.startswith(b'{"\\r":"Carriage Return","1":"One","\xc2\x80":"Control"')


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (0.0, b"0"),
        (-0.0, b"0"),  # minus zero serializes as 0
        (1e21, b"1e+21"),
        (1e-7, b"1e-7"),
        (0.000001, b"0.000001"),
        (9007199254740991, b"9007199254740991"),  # largest safe integer
        (333333333.3333333, b"333333333.3333333"),
        (5e-324, b"5e-324"),  # smallest subnormal
        (1.7976931348623157e308, b"1.7976931348623157e+308"),
        (123456789012345680000.0, b"123456789012345680000"),
    ],
)
def test_rfc8785_number_serialization(number: float, expected: bytes) -> None:
    assert canonicalize(number) == expected


@pytest.mark.parametrize(
    "bad",
    [
        '{"a": 1, "a": 2}',  # duplicate key
        "NaN",
        '{"a": Infinity}',
        "[1, 2",  # truncated
        b"\xff\xfe{}",  # not UTF-8
        "9007199254740993",  # integer beyond 2**53
    ],
)
def test_canonicalize_json_refuses(bad: str | bytes) -> None:
    with pytest.raises(CanonicalizationFailed) as e:
        canonicalize_json(bad)
    assert e.value.code == "CANONICALIZATION_FAILED"


def _nested(depth: int) -> str:
    """Objects and arrays alternating, ``depth`` levels in all."""
    odd = depth % 2
    return '{"a":[' * (depth // 2) + "[" * odd + "1" + "]" * odd + "]}" * (depth // 2)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "JSON_TOO_DEEP"),  # overflowed the C stack once py_ecc raised the limit
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "JSON_TOO_DEEP"),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "JSON_TOO_DEEP"),
        (_nested(MAX_JSON_DEPTH + 1), "JSON_TOO_DEEP"),
        (r'["\\"' + ",[" * 100_000, "JSON_TOO_DEEP"),  # an escaped backslash before the closing quote
        ("[" * 100_000 + '"', "JSON_TOO_DEEP"),  # unterminated
        ("9" * 5_000, "CANONICALIZATION_FAILED"),  # beyond Python's 4,300-digit conversion limit
        ('{"as_of": 1e400}', "CANONICALIZATION_FAILED"),  # an infinite float
        ("-1e400", "CANONICALIZATION_FAILED"),
        ("[}", "CANONICALIZATION_FAILED"),
        ("]]]" + "[" * 100_000, "JSON_TOO_DEEP"),
    ],
)
def test_parse_json_bounds(text: str, code: str) -> None:
    with pytest.raises(CanonicalizationFailed) as e:
        parse_json(text)
    assert e.value.code == code
    assert isinstance(e.value, JsonTooDeep) == (code == "JSON_TOO_DEEP")


@pytest.mark.parametrize(
    "text",
    [
        "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH,
        _nested(MAX_JSON_DEPTH),
        '["' + "[" * 100_000 + '"]',  # brackets inside a string do not nest
        r'["\\"' + ",[]" * 100_000 + "]",  # an escaped backslash ends a string where it seems to
        r'["\"' + "[" * 100_000 + '"]',  # an escaped quote does not end one
        r'{"k\"[[[": "v\\", "w": "[{\u005b"}',
        "9" * 4_300,
    ],
)
def test_parse_json_accepts_up_to_the_bound(text: str) -> None:
    assert parse_json(text) == json.loads(text)


def test_parse_json_bound_holds_whatever_the_recursion_limit() -> None:
    """The bound does not rely on ``sys.getrecursionlimit()`` (py_ecc, imported by web3, sets it to 100,000)."""
    import sys

    import web3  # noqa: F401 - what raises the limit

    assert sys.getrecursionlimit() >= 100_000
    with pytest.raises(JsonTooDeep):
        parse_json(b"[" * 1_000_000 + b"]" * 1_000_000)


def test_canonicalize_refuses_non_json_values() -> None:
    for bad in (float("nan"), {1: "x"}, b"bytes", 2**60):
        with pytest.raises(CanonicalizationFailed):
            canonicalize(bad)


def test_certificate_digest_is_prefixed_sha256_of_jcs() -> None:
    record = record_from_json(verification_json())
    jcs = canonicalize(record_to_json(record))
    assert canonical_record(record) == jcs
    assert CERTIFICATE_DOMAIN == b"TraceCert/certificate/v1\x00"
    assert certificate_digest(record) == hashlib.sha256(CERTIFICATE_DOMAIN + jcs).digest()
    assert certificate_digest(record) != hashlib.sha256(jcs).digest()


def test_a_record_is_digested_once_and_a_changed_copy_afresh() -> None:
    record = record_from_json(calibration_json())
    assert certificate_digest(record) is certificate_digest(record)  # computed once: records are immutable
    assert record == record_from_json(calibration_json())  # the cached digest is not part of equality
    changed = record.model_copy(update={"certificate_number": "OTHER-0001"})
    expected = hashlib.sha256(CERTIFICATE_DOMAIN + canonicalize(record_to_json(changed))).digest()
    assert canonical_record(changed) != canonical_record(record)
    assert certificate_digest(changed) == expected != certificate_digest(record)


def test_golden_record_digest() -> None:
    """The published test vector (docs/bundle.md): other implementations must get the same digest."""
    data = (Path(__file__).parent / "data" / "verification-record.json").read_bytes()
    record = record_from_json(data)
    assert to_hex(certificate_digest(record)) == ("0x28503298d05a8dd650c3104d866e56a6ee08b9bd91a070e20f77e4b0d4594312")
    # JCS of the file as it stands gives the same bytes: the file is in normal form.
    assert canonicalize_json(data) == canonical_record(record)


def test_null_and_empty_arrays_do_not_change_the_digest() -> None:
    base = calibration_json()
    assert "replaces" not in base and "remarks" not in base and "components" not in base["item"]
    padded = {**base, "replaces": None, "remarks": None}
    padded["item"] = {**base["item"], "components": [], "asset_number": None}
    padded["results"] = [{**base["results"][0], "distribution": None}]
    assert certificate_digest(record_from_json(padded)) == certificate_digest(record_from_json(base))
    assert normalize_record_json({"a": None, "b": [], "c": [{"d": None, "e": []}], "f": {}}) == {
        "c": [{}],
        "f": {},
    }


def test_any_value_change_changes_the_digest() -> None:
    base = certificate_digest(record_from_json(calibration_json()))
    changed = calibration_json()
    changed["results"][0]["expanded_uncertainty"] = "0.100"  # same number, different stated resolution
    assert certificate_digest(record_from_json(changed)) != base


def _shuffled(obj: Any, rng: random.Random) -> Any:
    if isinstance(obj, dict):
        items = list(obj.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(obj, list):
        return [_shuffled(v, rng) for v in obj]
    return obj


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    # rfc8785 keeps to the I-JSON range: integral values beyond 2**53 are refused, so stay inside it
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-(2.0**52), max_value=2.0**52)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values, seed=st.integers(0, 2**32 - 1), indent=st.sampled_from([None, 0, 1, 4, "\t"]))
def test_canonical_form_ignores_key_order_and_whitespace(value: Any, seed: int, indent: int | str | None) -> None:
    rng = random.Random(seed)
    text = json.dumps(_shuffled(value, rng), indent=indent, ensure_ascii=rng.random() < 0.5)
    canonical = canonicalize(value)
    assert canonicalize_json(text) == canonical
    assert canonicalize_json(canonical) == canonical  # idempotent


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), indent=st.sampled_from([None, 2, "\t"]))
def test_record_digest_ignores_key_order_and_whitespace(seed: int, indent: int | str | None) -> None:
    doc = verification_json()
    text = json.dumps(_shuffled(doc, random.Random(seed)), indent=indent, ensure_ascii=seed % 2 == 0)
    assert certificate_digest(record_from_json(text)) == certificate_digest(record_from_json(doc))


def test_document_digest_is_plain_sha256() -> None:
    assert document_digest(b"%PDF-1.7") == hashlib.sha256(b"%PDF-1.7").digest()


def test_lab_id() -> None:
    assert LAB_DOMAIN == b"TraceCert/lab/v1\x00"
    assert lab_id("91350100M000100Y43") == hashlib.sha256(LAB_DOMAIN + b"91350100M000100Y43").digest()
    assert lab_id("计量所") == hashlib.sha256(LAB_DOMAIN + "计量所".encode()).digest()
    for bad in ("", " X", "X "):
        with pytest.raises(MalformedValue):
            lab_id(bad)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("ab" * 32, 32),  # no 0x prefix
        ("0x" + "ab" * 31, 32),  # 31 bytes
        ("0x" + "zz" * 32, 32),  # not hex
        ("0xabc", None),  # odd length
    ],
)
def test_from_hex_refuses(text: str, length: int | None) -> None:
    with pytest.raises(MalformedValue) as e:
        from_hex(text, length)
    assert e.value.code == "MALFORMED_VALUE"


def test_hex_round_trip() -> None:
    data = bytes(range(32))
    assert to_hex(data) == "0x" + data.hex()
    assert from_hex(to_hex(data)) == data
    assert from_hex("0x" + data.hex().upper()) == data
