"""Instrument categories by name: what a person reads where a record, a scope or a report has a category code.

A category code is the number of the JJG verification regulation governing the instrument (``JJG443``: 燃油加油机)
or a field of measurement (``MASS``). The names ship with the package (``instruments.json``, with its source); a
code not in it is shown as it is, saying so. ``JJG 443``, ``JJG443`` and ``JJG 443-2023`` name one category.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CategoryName", "category_label", "category_name"]

_DATA = Path(__file__).with_name("instruments.json")
_REGULATION = re.compile(r"^(JJG|JJF)\s*(\d+)(?:\s*[-—]\s*\d{4})?$", re.IGNORECASE)


@dataclass(frozen=True)
class CategoryName:
    """A category's names: ``code`` as the catalogue writes it, Chinese and English."""

    code: str
    zh: str
    en: str


def _key(code: str) -> str:
    text = code.strip()
    found = _REGULATION.match(text)
    return f"{found.group(1).upper()}{int(found.group(2))}" if found else text.upper()


@functools.cache
def _catalogue() -> dict[str, CategoryName]:
    entries = json.loads(_DATA.read_text(encoding="utf-8"))["categories"]
    return {_key(e["code"]): CategoryName(e["code"], e["zh"], e["en"]) for e in entries}


def category_name(code: str) -> CategoryName | None:
    """The names of a category code, or None for a code the catalogue does not hold."""
    return _catalogue().get(_key(code))


def category_label(code: str, *, zh: bool) -> str:
    """``JJG443 燃油加油机`` / ``JJG443 fuel dispenser``; an unknown code with a note saying it is not named."""
    name = category_name(code)
    if name is None:
        return f"{code}（未收录的器具类别）" if zh else f"{code} (category not in the catalogue)"
    return f"{code} {name.zh if zh else name.en}"
