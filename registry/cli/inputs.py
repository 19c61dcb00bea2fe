"""What ``tracecert issue`` reads: record JSON files, DCC XML files, CSV rows and folders, as items to send."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.cli.common import usage_error
from tracecert.certificate.canonical import certificate_digest, parse_json, record_to_json, to_hex
from tracecert.certificate.dcc import DccOverrides, import_dcc
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import SigningKey

__all__ = ["BOOLEAN_PATHS", "Item", "csv_records", "read_items", "sign_items"]

#: Record fields that are booleans (CSV cells ``true``/``false``, ``yes``/``no``, ``1``/``0``, ``是``/``否``).
BOOLEAN_PATHS = frozenset({"customer.mandatory_verification"})
_TRUE = {"true", "yes", "1", "是", "y"}
_FALSE = {"false", "no", "0", "否", "n"}


@dataclass
class Item:
    """One certificate to send, and where it came from (``file``, ``file:line`` or ``file#index``)."""

    source: str
    record: dict[str, Any] | None = None
    document: bytes | None = None
    filename: str | None = None
    signature: dict[str, str] | None = None
    # outcome
    outcome: str = "pending"  # accepted | existing | refused | pending
    digest: str | None = None
    lab_id: str | None = None
    status: str | None = None
    public: bool | None = None
    code: str | None = None
    message: str | None = None
    details: Any = None

    @property
    def number(self) -> str:
        value = (self.record or {}).get("certificate_number")
        return value if isinstance(value, str) else ""

    def refuse(self, code: str, message: str, details: Any = None) -> None:
        self.outcome, self.code, self.message, self.details = "refused", code, message, details

    def answer(self, result: Mapping[str, Any]) -> None:
        self.outcome = "accepted" if result.get("created", True) or result.get("requeued") else "existing"
        self.digest = result.get("digest")
        self.lab_id = result.get("lab_id")
        self.status = result.get("status")
        self.public = result.get("public")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "certificate_number": self.number, "outcome": self.outcome}
        for name in ("digest", "lab_id", "status", "public", "code", "message", "details"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: dict[str, Any] = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"column {path!r} conflicts with column {part!r}")
        node = child
    if parts[-1] in node:
        raise ValueError(f"column {path!r} is given twice")
    node[parts[-1]] = value


def _lists(value: Any) -> Any:
    """Turn objects whose keys are all indexes (``persons.0.name``) into arrays, in index order."""
    if isinstance(value, dict):
        converted = {k: _lists(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            indexes = sorted(int(k) for k in converted)
            if indexes != list(range(len(indexes))):
                raise ValueError(f"array indexes must be 0, 1, 2, ... without gaps, got {indexes}")
            return [converted[str(i)] for i in indexes]
        return converted
    return value


def csv_records(text: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Records from CSV text whose header row names fields by dotted path; yields ``(line, record, error)``.

    Empty cells are left out; array elements are numbered (``persons.0.name``); boolean fields take
    ``true``/``false`` (also ``yes``/``no``, ``1``/``0``, ``是``/``否``).
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    bad = [h for h in header if not h or any(not p for p in h.split("."))]
    if bad:
        yield 1, None, f"header: column names must be dotted paths, got {bad!r}"
        return
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            yield line, None, f"{len(row)} cells but {len(header)} columns"
            continue
        record: dict[str, Any] = {}
        try:
            for path, cell in zip(header, row, strict=False):
                value = cell.strip()
                if not value:
                    continue
                if re.sub(r"\.\d+", "", path) in BOOLEAN_PATHS:
                    if value.lower() not in _TRUE | _FALSE:
                        raise ValueError(f"{path}: {value!r} is not true or false")
                    _set_path(record, path, value.lower() in _TRUE)
                else:
                    _set_path(record, path, value)
            yield line, _lists(record), None
        except ValueError as exc:
            yield line, None, str(exc)


def _collect(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in (".json", ".xml", ".csv") and not p.name.startswith(".")
                )
            )
        elif path.exists():
            files.append(path)
        else:
            raise usage_error(f"{path} does not exist")
    return files


def read_items(
    paths: Sequence[Path],
    overrides: DccOverrides,
    resolve_replaced: Callable[[str, str], str | None] | None = None,
) -> list[Item]:
    """Every certificate in ``paths`` (files and folders, recursively): JSON records (one object or an array),
    DCC XML files (imported with ``overrides`` and ``resolve_replaced``, see
    :func:`~tracecert.certificate.dcc.import_dcc`; the XML is sent along) and CSV files. Unreadable inputs come
    back as refused items naming their file and code."""
    items: list[Item] = []
    for path in _collect(paths):
        name = str(path)
        suffix = path.suffix.lower()
        try:
            data = path.read_bytes()
        except OSError as exc:
            item = Item(name)
            item.refuse("FILE_UNREADABLE", str(exc))
            items.append(item)
            continue
        if suffix == ".xml":
            item = Item(name, document=data, filename=path.name)
            try:
                imported = import_dcc(data, overrides, resolve_replaced=resolve_replaced)
                item.record = record_to_json(imported.record)
                bound = imported.record.original_document
                if bound is None or bound.sha256 != to_hex(imported.document_sha256):
                    # TraceCert's own DCC rendering of a record: the record is the original, not this file
                    item.document = item.filename = None
            except CertificateError as exc:
                item.refuse(exc.code, exc.message, [e.to_dict() for e in exc.errors] or None)
            items.append(item)
        elif suffix == ".csv":
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                item = Item(name)
                item.refuse("CSV_INVALID", "not UTF-8 text")
                items.append(item)
                continue
            for line, record, problem in csv_records(text):
                item = Item(f"{name}:{line}", record=record)
                if problem is not None:
                    item.refuse("CSV_INVALID", problem)
                items.append(item)
        elif suffix == ".json":
            try:
                parsed = parse_json(data)
            except CertificateError as exc:
                item = Item(name)
                item.refuse("JSON_INVALID", exc.message)
                items.append(item)
                continue
            records = parsed if isinstance(parsed, list) else [parsed]
            for i, record in enumerate(records):
                item = Item(f"{name}#{i}" if isinstance(parsed, list) else name)
                if isinstance(record, dict):
                    item.record = record
                else:
                    item.refuse("JSON_INVALID", "a record is a JSON object")
                items.append(item)
        else:
            item = Item(name)
            item.refuse("UNSUPPORTED_FILE", "give .json records, .xml DCC files or .csv tables")
            items.append(item)
    return items


def sign_items(items: Sequence[Item], key: SigningKey) -> None:
    """Sign each record's digest with the lab's key (lab-signing mode); invalid records are refused here."""
    kid = to_hex(key.key_id)
    for item in items:
        if item.record is None or item.outcome == "refused":
            continue
        try:
            digest = certificate_digest(record_from_json(item.record))
        except CertificateError as exc:
            item.refuse(exc.code, exc.message, [e.to_dict() for e in exc.errors] or None)
            continue
        item.signature = {"key_id": kid, "value": to_hex(key.sign(digest))}
