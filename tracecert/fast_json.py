"""JSON written by pydantic-core's serializer (Rust) instead of the standard library's encoder: both services'
answers (the verifier's reports, the registry's bulk answers).

A verification report is about 9 KB of JSON: ``json.dumps`` takes about 140 µs for it, pydantic-core's ``to_json``
about 35 µs, with the same bytes as starlette's :class:`~starlette.responses.JSONResponse` writes (compact
separators, UTF-8, non-ASCII characters as they are, the same escapes). The one difference: a float below 1e-4
is written positionally (``0.00001``, not ``1e-05``): the same number once parsed. Reports hold no floats today.
``tests/verifier/test_fast_json.py`` compares the two encoders on real reports byte for byte and on generated JSON
values as parsed JSON. (The services' response classes render with :func:`dumps`; this module knows no web
framework.)
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

__all__ = ["dumps", "reference_dumps"]


def dumps(content: Any) -> bytes:
    """``content`` (dicts, lists, strings, ints, floats, booleans, None) as UTF-8 JSON, fast.

    Raises:
        ValueError: a float is not finite (as the reference refuses it).
        pydantic_core.PydanticSerializationError: a string holds a lone surrogate (not UTF-8).
    """
    data = pydantic_core.to_json(content, inf_nan_mode="constants")
    if b"NaN" in data or b"Infinity" in data:  # rare: a string may hold the word; let the reference decide
        return reference_dumps(content)
    return data


def reference_dumps(content: Any) -> bytes:
    """What starlette's JSONResponse renders: the reference :func:`dumps` is held to."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")
