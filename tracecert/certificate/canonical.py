"""Canonical JSON (RFC 8785 / JCS), certificate and document digests, lab ids, and 0x-hex helpers.

This module is the single definition of the bytes a certificate digest is computed over
(see ``docs/bundle.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from itertools import accumulate, repeat
from operator import sub
from typing import TYPE_CHECKING, Any

import rfc8785

from tracecert.certificate.errors import CanonicalizationFailed, JsonTooDeep, MalformedValue

if TYPE_CHECKING:
    from tracecert.certificate.model import CertificateRecord

__all__ = [
    "CERTIFICATE_DOMAIN",
    "DIGEST_SIZE",
    "HEX32_PATTERN",
    "LAB_DOMAIN",
    "MAX_JSON_DEPTH",
    "NUMBER_DOMAIN",
    "canonical_if_normal",
    "canonical_record",
    "canonicalize",
    "canonicalize_json",
    "certificate_digest",
    "check_json_depth",
    "compute_canonical_record",
    "digest_canonical_record",
    "document_digest",
    "from_hex",
    "jcs_layout",
    "lab_id",
    "normalize_record_json",
    "number_tag",
    "only_strings_and_booleans",
    "parse_json",
    "record_json_and_canonical",
    "record_to_json",
    "to_hex",
]

CERTIFICATE_DOMAIN = b"TraceCert/certificate/v1\x00"
"""Domain-separation prefix hashed before the canonical record bytes."""

LAB_DOMAIN = b"TraceCert/lab/v1\x00"
"""Domain-separation prefix hashed before a lab code to form a lab id."""

NUMBER_DOMAIN = b"TraceCert/number/v1\x00"
"""Domain-separation prefix hashed before a lab id and a certificate number to form a number tag."""

DIGEST_SIZE = 32

HEX32_PATTERN = r"^0x[0-9a-f]{64}$"
"""How a 32-byte value (digest, lab id, key id, Merkle root) is written: ``0x`` and 64 lowercase hex digits."""

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects any JSON from outside may have (a record needs 4, a bundle 6)."""

# What the depth bound is computed on, at C speed: escapes dropped (then every '"' delimits a string), strings
# dropped (every other piece between quotes), brackets kept and turned into +1 / -1 steps.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKET_OR_QUOTE = bytes(c for c in range(256) if c not in b'[]{}"')
_PAREN = bytes.maketrans(b"[{]}", b"(())")

_HEX_RE = re.compile(r"0x[0-9a-fA-F]*")


def to_hex(data: bytes) -> str:
    """Render bytes as lowercase hex with a ``0x`` prefix (the JSON form of every hash, id and key)."""
    return "0x" + data.hex()


def from_hex(text: str, length: int | None = DIGEST_SIZE) -> bytes:
    """Parse ``0x``-prefixed hex (either case) into bytes, checking the byte length when ``length`` is given.

    Raises:
        MalformedValue: not ``0x`` hex, odd number of digits, or not ``length`` bytes.
    """
    if not isinstance(text, str) or not _HEX_RE.fullmatch(text) or len(text) % 2:
        raise MalformedValue(f"expected 0x-prefixed hex, got {text!r:.80}")
    data = bytes.fromhex(text[2:])
    if length is not None and len(data) != length:
        raise MalformedValue(f"expected {length} bytes of hex, got {len(data)}")
    return data


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # at C speed; a key given twice leaves fewer members than pairs
    if len(result) != len(pairs):
        _reject_duplicates_reference(pairs)
    return result


def _reject_duplicates_reference(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The definition of the object hook of :func:`parse_json`: it names the first key given twice."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalizationFailed(f"duplicate object key {key!r} (RFC 8785 needs unique keys)")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise CanonicalizationFailed(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise CanonicalizationFailed(f"the number {text[:40]!r} is out of range")
    return value


def check_json_depth(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON text nested deeper than ``max_depth`` without parsing it.

    ``json.loads`` recurses once per level on the C stack; other libraries in the process (``py_ecc``, imported
    by the Ethereum packages) raise the recursion limit so far that a deep document overflows the stack and kills
    the process instead of raising ``RecursionError``. So the depth is measured first, without recursion and at
    C speed: strings are removed, the brackets kept, and the running count of open brackets is bounded. Whether
    the brackets pair up is left to the parser (it then meets at most ``max_depth`` levels).

    Raises:
        JsonTooDeep: nested deeper than ``max_depth``.
    """
    # No deeper than the number of opening brackets, strings' included: most texts are done with two memchr-like
    # counts and never split.
    if data.count(b"[") + data.count(b"{") <= max_depth or _shallow(data, max_depth):
        return
    _check_json_depth_reference(data, max_depth)


def _shallow(data: bytes, max_depth: int) -> bool:
    """Whether ``data`` is shown to be no deeper than ``max_depth``, at C speed (a bulk of 1,000 certificates,
    1.4 MB with 30,000 brackets: 5 ms, against 20 ms for the reference's running count in Python); False when not
    shown (then the reference decides).

    The brackets are the reference's (every byte but brackets and quotes dropped first, which leaves the pieces
    between quotes in place), written ``(`` and ``)``; each round then removes every adjacent ``()``. A bracket
    at depth *k* of a chain *d* deep goes no earlier than round *d - k + 1*, so brackets that are all gone within
    ``max_depth`` rounds are balanced and nest at most ``max_depth`` deep: the reference's running count stays
    within the bound.
    """
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    kept = data.translate(None, _NOT_BRACKET_OR_QUOTE)
    brackets = b"".join(kept.split(b'"')[::2]).translate(_PAREN)
    for _ in range(max_depth):
        if not brackets:
            return True
        brackets = brackets.replace(b"()", b"")
    return not brackets


def _check_json_depth_reference(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """The definition of :func:`check_json_depth` (strings removed, the open brackets counted)."""
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    brackets = b"".join(data.split(b'"')[::2]).translate(None, _NOT_BRACKET)
    if len(brackets) <= max_depth:
        return
    if max(accumulate(map(sub, brackets.translate(_STEP), repeat(1)))) > max_depth:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels is refused")


def parse_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text strictly: UTF-8, no duplicate keys, no NaN/Infinity, at most ``max_depth`` levels deep,
    numbers within range (no infinite floats, integers of at most 4,300 digits).

    Every JSON that comes from outside the process (request bodies, uploaded files, answers of other services)
    goes through this function: the depth is checked before any recursive parser sees the text.

    Raises:
        JsonTooDeep: nested deeper than ``max_depth``.
        CanonicalizationFailed: the text is not strict JSON.
    """
    try:
        raw = data if isinstance(data, bytes | bytearray) else data.encode("utf-8", "surrogatepass")
        check_json_depth(bytes(raw), max_depth)
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except CanonicalizationFailed:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: JSONDecodeError, > 4,300 digits
        raise CanonicalizationFailed(f"not valid JSON: {e}") from e


def canonicalize(obj: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value (dict, list, str, number, bool, None).

    Raises:
        CanonicalizationFailed: the value holds something JCS cannot represent (NaN, an integer beyond
            ±2**53, a non-string key, a non-JSON type).
    """
    fast = _jcs_without_numbers(obj)
    if fast is not None:
        return fast
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as e:
        raise CanonicalizationFailed(str(e)) from e


def _jcs_without_numbers(obj: Any) -> bytes | None:
    """JCS through the C JSON encoder, for values without numbers (every record): None when it does not apply.

    Without numbers, RFC 8785 reduces to: members sorted by the UTF-16 code units of their names, no whitespace,
    strings escaped as ECMAScript's JSON.stringify does (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``,
    other controls as lowercase ``\\u00xx``, nothing else) — which is exactly ``json.dumps`` with
    ``ensure_ascii=False`` when every member name is in the Basic Multilingual Plane (then code point order and
    UTF-16 order agree) and no string holds a lone surrogate. Anything else goes to the reference implementation.
    """
    if not _plain(obj, 0):
        return None
    try:
        return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode(
            "utf-8"
        )
    except (UnicodeEncodeError, ValueError, TypeError):  # lone surrogates and the like: let rfc8785 decide
        return None


def _plain(obj: Any, depth: int) -> bool:
    # Exact types first (what json.loads and model_dump produce); subclasses and other mappings take the slow path.
    kind = type(obj)
    if kind is str or obj is None or kind is bool:
        return True
    if depth > 64:
        return False
    if kind is dict:
        for k, v in obj.items():
            if type(k) is not str or not (k.isascii() or max(map(ord, k)) < 0xD800):
                return False
            t = type(v)
            if not (t is str or t is bool or v is None or _plain(v, depth + 1)):
                return False
        return True
    if kind is list:
        return all(type(v) is str or _plain(v, depth + 1) for v in obj)
    if isinstance(obj, str):
        return True
    if isinstance(obj, Mapping):
        return all(
            isinstance(k, str) and (k.isascii() or max(map(ord, k)) < 0xD800) and _plain(v, depth + 1)
            for k, v in obj.items()
        )
    if isinstance(obj, list | tuple):
        return all(_plain(v, depth + 1) for v in obj)
    return False


def canonicalize_json(data: bytes | str) -> bytes:
    """Parse JSON text strictly (see :func:`parse_json`) and return its canonical bytes.

    Raises:
        CanonicalizationFailed: not strict JSON, or not representable in JCS.
    """
    return canonicalize(parse_json(data))


def normalize_record_json(obj: Any) -> Any:
    """Apply the record normal form: drop object members whose value is ``null`` or ``[]``, recursively.

    This is the whole of the normal form (see ``docs/bundle.md``); any language can implement it without the
    schema. Arrays keep their order; ``null`` inside an array is kept (records never contain one).
    """
    kind = type(obj)
    if kind is str:
        return obj
    if kind is dict or isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            t = type(v)
            if t is str:
                out[k] = v
            elif v is not None and not (isinstance(v, list | tuple) and len(v) == 0):
                out[k] = normalize_record_json(v)
        return out
    if kind is list or isinstance(obj, list | tuple):
        return [normalize_record_json(v) for v in obj]
    return obj


def record_to_json(record: CertificateRecord) -> dict[str, Any]:
    """Return the record's JSON object in normal form: the exact object whose JCS bytes are digested."""
    return record_json_and_canonical(record)[0]


def _record_to_json_reference(record: CertificateRecord) -> dict[str, Any]:
    """The definition of :func:`record_to_json`: pydantic's JSON dump without ``None``, in normal form."""
    dumped = record.model_dump(mode="json", exclude_none=True)
    result: dict[str, Any] = normalize_record_json(dumped)
    return result


# Outside its strings, JCS text of a value made of objects, arrays, strings and booleans holds only these bytes.
_STRUCTURE = b"{}[]:,truefals"
_BELOW_ASTRAL = bytes(range(0xF0))  # UTF-8 starts a character beyond the BMP with 0xF0..0xF4, and only such
_JCS_LAYOUT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))


def jcs_layout(obj: Any) -> bytes:
    """``obj`` as UTF-8 JSON text laid out as JCS lays it out (members sorted, no whitespace, strings escaped as
    JCS escapes them), by the C encoder. It is JCS exactly when :func:`only_strings_and_booleans` holds for it.

    Raises:
        TypeError: a value JSON cannot hold (or keys that cannot be sorted).
        ValueError: NaN or an infinity, or a circular reference.
        UnicodeEncodeError: a string holds a lone surrogate.
    """
    return _JCS_LAYOUT.encode(obj).encode("utf-8")


def only_strings_and_booleans(text: bytes) -> bool:
    """Whether the JSON text ``text`` holds no number, no ``null``, no empty array and no character beyond the
    Basic Multilingual Plane (which UTF-8 writes from byte 0xF0 on).

    For such a value the JCS layout of :func:`jcs_layout` is JCS (see :func:`_jcs_without_numbers`: code point
    order is UTF-16 order in the BMP), and a record's JSON without ``null`` and ``[]`` members is in normal form.
    Runs at C speed: escapes dropped, then every other piece between quotes is outside the strings (as in
    :func:`check_json_depth`).
    """
    if text.translate(None, _BELOW_ASTRAL):
        return False
    if b"\\" in text:
        text = _ESCAPE.sub(b"", text)
    outside = b"".join(text.split(b'"')[::2])
    return not outside.translate(None, _STRUCTURE) and b"[]" not in outside


def record_json_and_canonical(record: CertificateRecord) -> tuple[dict[str, Any], bytes]:
    """Return :func:`record_to_json` and its JCS bytes, from one pydantic dump and one pass of the C encoder.

    The members the normal form drops (``null``, ``[]``) are exactly the fields at their defaults (``None``,
    ``()``), so ``model_dump(exclude_defaults=True)`` is the normal form when its text holds no ``null`` and no
    ``[]``; when it moreover holds no number and nothing beyond the BMP, its JCS layout is JCS
    (:func:`only_strings_and_booleans`). A validated record always passes; anything else (a copy updated with
    values pydantic did not check, astral characters) takes the reference path. Property tests hold both equal.
    """
    doc: dict[str, Any] = record.model_dump(mode="json", exclude_defaults=True)
    try:
        text = jcs_layout(doc)
    except (UnicodeEncodeError, ValueError, TypeError):  # lone surrogates and the like: the reference decides
        text = b"null"
    if only_strings_and_booleans(text):
        return doc, text
    reference = _record_to_json_reference(record)
    return reference, canonicalize(reference)


def canonical_if_normal(record: CertificateRecord, raw: Any, text: bytes) -> bytes | None:
    """Return ``text`` if it shows that ``raw`` (the JSON the record was validated from, with ``text`` its
    :func:`jcs_layout`) is the record in normal form, and so ``text`` is the record's canonical bytes; else None
    (not shown: the caller decides by the reference, ``canonicalize(raw) == record.canonical``).

    Shown when ``raw`` equals the record's dump without defaults and ``text`` holds only strings and booleans:
    then ``text`` is JCS of ``raw`` and of that dump, which is the normal form (see
    :func:`record_json_and_canonical`).
    """
    if only_strings_and_booleans(text) and raw == record.model_dump(mode="json", exclude_defaults=True):
        return text
    return None


def canonical_record(record: CertificateRecord) -> bytes:
    """Return ``JCS(record_to_json(record))``, the bytes that follow the domain prefix in the digest.

    Computed once per record object (records are immutable): see :attr:`CertificateRecord.canonical`.
    """
    return record.canonical


def certificate_digest(record: CertificateRecord) -> bytes:
    """Return the 32-byte certificate digest ``SHA-256(CERTIFICATE_DOMAIN || JCS(normal form of record))``.

    Computed once per record object (records are immutable): see :attr:`CertificateRecord.digest`.

    Raises:
        CanonicalizationFailed: never for a validated record (only strings, booleans, objects, arrays).
    """
    return record.digest


def compute_canonical_record(record: CertificateRecord) -> bytes:
    """The computation behind :func:`canonical_record` (not cached): ``JCS(record_to_json(record))``."""
    return record_json_and_canonical(record)[1]


def _compute_canonical_record_reference(record: CertificateRecord) -> bytes:
    """The definition of :func:`compute_canonical_record`, kept for the property tests of the fast path."""
    return canonicalize(_record_to_json_reference(record))


def digest_canonical_record(canonical: bytes) -> bytes:
    """The definition behind :func:`certificate_digest`: SHA-256 over the domain prefix and a record's JCS bytes."""
    return hashlib.sha256(CERTIFICATE_DOMAIN + canonical).digest()


def document_digest(data: bytes) -> bytes:
    """Return plain SHA-256 of a raw document (PDF or DCC XML bytes), as bound in ``original_document``."""
    return hashlib.sha256(data).digest()


def lab_id(code: str) -> bytes:
    """Return the 32-byte lab id ``SHA-256(LAB_DOMAIN || UTF-8(code))`` for a stable lab code.

    The code is used exactly as given (no trimming or case folding), e.g. a unified social credit code.

    Raises:
        MalformedValue: the code is empty or has leading/trailing whitespace.
    """
    if not code or code != code.strip():
        raise MalformedValue("a lab code must be non-empty and have no surrounding whitespace")
    return hashlib.sha256(LAB_DOMAIN + code.encode("utf-8")).digest()


def number_tag(lab: bytes, number: str) -> bytes:
    """Return ``SHA-256(NUMBER_DOMAIN || lab id || UTF-8(number))``: a certificate number as the public sees it.

    A registry's public batch listings carry a private certificate's number only as this tag: whoever holds the
    certificate (or guesses the number) can find the lab's certificates under it, as an exact lookup by number
    allows, but nobody can read a lab's numbers off the listings.

    Raises:
        MalformedValue: ``lab`` is not a 32-byte lab id.
    """
    if len(lab) != DIGEST_SIZE:
        raise MalformedValue("a lab id is 32 bytes")
    return hashlib.sha256(NUMBER_DOMAIN + bytes(lab) + number.encode("utf-8")).digest()
