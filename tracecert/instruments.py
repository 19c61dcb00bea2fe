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

__all__ = [
    "USES",
    "CatalogueEntry",
    "CategoryName",
    "catalogue",
    "catalogue_entry",
    "category_label",
    "category_name",
    "is_mandatory",
    "register_category",
]

_DATA = Path(__file__).with_name("instruments.json")
_MANDATORY = Path(__file__).with_name("mandatory.json")

#: The four uses that put a catalogue instrument under mandatory verification (计量法 第九条), and any other use.
USES: dict[str, tuple[str, str]] = {
    "TRADE": ("贸易结算", "trade settlement"),
    "SAFETY": ("安全防护", "safety protection"),
    "MEDICAL": ("医疗卫生", "medical care"),
    "ENVIRONMENT": ("环境监测", "environmental monitoring"),
    "OTHER": ("其他用途", "other use"),
}
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



@dataclass(frozen=True)
class CatalogueEntry:
    """An entry of the catalogue of instruments under mandatory management (实施强制管理的计量器具目录): its
    number, item, the kinds of instrument it lists, its mode (P type approval, V mandatory verification, P+V) and
    the uses under which verification is mandatory. What the shipped file could not confirm is None (or empty)."""

    no: int | None
    item: str
    kinds: tuple[str, ...]
    mode: str | None
    uses: tuple[str, ...]
    form: str | None


def _catalogue_path() -> Path:
    import os

    configured = os.environ.get("TRACECERT_CATALOGUE_FILE")
    return Path(configured) if configured else _MANDATORY


@functools.cache
def catalogue() -> tuple[CatalogueEntry, ...]:
    """The catalogue: the shipped ``mandatory.json`` (its ``source`` says where each entry comes from and what it
    lacks), or the file ``TRACECERT_CATALOGUE_FILE`` names (the same format, e.g. the complete official table)."""
    data = json.loads(_catalogue_path().read_text(encoding="utf-8"))
    return tuple(
        CatalogueEntry(
            no=e.get("no"),
            item=e["item"],
            kinds=tuple(e.get("kinds") or ()),
            mode=e.get("mode"),
            uses=tuple(e.get("uses") or ()),
            form=e.get("form"),
        )
        for e in data["entries"]
    )


def _kind_key(name: str) -> str:
    return re.sub(r"\s+", "", name)


@functools.cache
def _kinds() -> dict[str, CatalogueEntry]:
    found: dict[str, CatalogueEntry] = {}
    for entry in catalogue():
        for name in (entry.item, *entry.kinds):
            found.setdefault(_kind_key(name), entry)
    return found


def catalogue_entry(kind: str) -> CatalogueEntry | None:
    """The catalogue entry that lists an instrument kind (by the kind's name or the entry's item), or None."""
    return _kinds().get(_kind_key(kind))


def register_category(text: str) -> str | None:
    """The name an instrument register keeps for a category: a catalogue item or kind as written, or the Chinese
    name of a category code or name TraceCert knows (``JJG443`` or ``燃油加油机``); None if neither knows it."""
    if catalogue_entry(text) is not None:
        return text.strip()
    name = category_name(text)
    if name is not None:
        return name.zh
    by_zh = {_kind_key(c.zh): c.zh for c in _catalogue().values()}
    return by_zh.get(_kind_key(text))


def is_mandatory(kind: str, use: str) -> bool | None:
    """Whether an instrument of ``kind`` used for ``use`` (a key of :data:`USES`) is under mandatory verification
    (强制检定) by the catalogue: True when its entry's mode is V or P+V and names that use, False when the mode is P
    or the entry names other uses, None when the catalogue does not say (no entry, or its mode or uses unknown)."""
    entry = catalogue_entry(kind)
    if entry is None or entry.mode is None:
        return None
    if "V" not in entry.mode.split("+"):
        return False
    if not entry.uses:
        return None
    return use in entry.uses
