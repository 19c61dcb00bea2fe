"""Text out of a parsed DCC for the import: whitespace, the preferred language, refTypes; and the notes that one
import collects on its mapping choices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from lxml import etree

from tracecert.certificate.dcc.schema import NS

__all__ = ["Reader", "clean", "find_text", "ref_types", "verbatim"]

#: Whether the DCC being read is one TraceCert exported: its text is the record's, kept as it is.
_VERBATIM: ContextVar[bool] = ContextVar("dcc_text_verbatim", default=False)


@contextlib.contextmanager
def verbatim(on: bool = True) -> Iterator[None]:
    """Read text verbatim within the block (a DCC TraceCert exported: the record's own text, whose digest a
    changed space would change), instead of collapsing whitespace (a lab's pretty-printed DCC)."""
    token = _VERBATIM.set(on)
    try:
        yield
    finally:
        _VERBATIM.reset(token)


def clean(text: str | None) -> str | None:
    """Collapse whitespace runs to one space (verbatim within :func:`verbatim`); ``None`` for no or blank text."""
    if text is None or not text.strip():
        return None
    return text if _VERBATIM.get() else " ".join(text.split())


def find_text(el: etree._Element | None, path: str) -> str | None:
    """The cleaned text of the first element at ``path`` (``dcc:``/``si:`` prefixes) under ``el``, if any."""
    if el is None:
        return None
    found = el.find(path, NS)
    return clean(found.text) if found is not None else None


def ref_types(el: etree._Element) -> set[str]:
    """The words of an element's ``refType`` attribute."""
    return set((el.get("refType") or "").split())


class Reader:
    """Language choice over a parsed DCC's multilingual text, and the notes of one import."""

    def __init__(self, languages: Sequence[str], mandatory: Sequence[str]) -> None:
        """Prefer ``languages`` in order, then the DCC's ``mandatory`` languages."""
        self.languages = [*languages, *mandatory]
        self.notes: list[str] = []

    def text(self, el: etree._Element | None) -> str | None:
        """Pick one ``dcc:content`` of a textType/richContentType element by language preference."""
        if el is None:
            return None
        contents = [(c.get("lang"), clean(c.text)) for c in el.findall("dcc:content", NS)]
        contents = [(lang, t) for lang, t in contents if t]
        for want in self.languages:
            for lang, t in contents:
                if lang == want:
                    return t
        for lang, t in contents:
            if lang is None:
                return t
        return contents[0][1] if contents else None

    def name(self, el: etree._Element) -> str | None:
        """The text of ``el``'s ``dcc:name`` child."""
        return self.text(el.find("dcc:name", NS))
