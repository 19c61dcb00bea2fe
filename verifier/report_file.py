"""A bulk verification's report as a file: one row per certificate (verdict, reasons by name, lab, instrument,
valid until), as CSV or JSON for systems and HTML for people, chosen by the file's suffix (``tracecert verify
--report``)."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "REPORT_MEDIA_TYPES", "REPORT_SUFFIXES", "render_report", "report_rows", "write_report"]

#: What a report file can be.
REPORT_SUFFIXES = (".csv", ".json", ".html")
#: Each report file's media type (the API's ``GET /v1/reports/{id}?format=``).
REPORT_MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}
#: The columns of a row, with their Chinese and English headings.
COLUMNS = (
    ("path", "文件", "file"),
    ("verdict", "结论", "verdict"),
    ("verdict_zh", "结论（中文）", "verdict (Chinese)"),
    ("reasons", "原因", "reasons"),
    ("certificate_number", "证书编号", "certificate number"),
    ("kind", "证书类型", "kind"),
    ("lab", "出具机构", "lab"),
    ("instrument", "计量器具", "instrument"),
    ("serial_number", "出厂编号", "serial number"),
    ("issue_date", "签发日期", "issued"),
    ("valid_until", "有效期至", "valid until"),
    ("lab_grade", "机构信用等级", "lab's credit grade"),
    ("digest", "证书摘要", "digest"),
)
_VERDICT_ZH = {"VALID": "有效", "VALID_WITH_WARNINGS": "有效（有警告）", "INVALID": "无效"}


def report_rows(entries: Sequence[tuple[str, dict[str, Any] | None, str | None]]) -> list[dict[str, str]]:
    """One row per ``(path, report as JSON or None, what went wrong or was skipped)``."""
    rows = []
    for path, report, problem in entries:
        if report is None:
            rows.append(
                {
                    "path": path,
                    "verdict": "ERROR" if problem else "",
                    "verdict_zh": "无法核验",
                    "reasons": problem or "",
                }
                | {k: "" for k, _zh, _en in COLUMNS[4:]}
            )
            continue
        cert = report.get("certificate") or {}
        item = cert.get("item") or {}
        verdict = "UNKNOWN" if report.get("unknown") else str(report.get("verdict"))
        reasons = "; ".join(f"{r['code']} {r['name']['zh']} / {r['name']['en']}" for r in report.get("reasons") or [])
        credit = cert.get("lab_credit") or {}
        rows.append(
            {
                "path": path,
                "verdict": verdict,
                "verdict_zh": "未知证书" if verdict == "UNKNOWN" else _VERDICT_ZH.get(verdict, verdict),
                "reasons": reasons,
                "certificate_number": str(cert.get("certificate_number") or ""),
                "kind": str(cert.get("kind") or ""),
                "lab": str(cert.get("lab_name") or ""),
                "instrument": " ".join(x for x in (item.get("name"), item.get("category_zh")) if x),
                "serial_number": str(item.get("serial_number") or ""),
                "issue_date": str((cert.get("dates") or {}).get("issue_date") or ""),
                "valid_until": str((cert.get("dates") or {}).get("valid_until") or ""),
                "lab_grade": (f"{credit['grade']['code']} {credit['grade']['zh']}" if credit.get("grade") else ""),
                "digest": str(report.get("digest") or ""),
            }
        )
    return rows


def render_report(rows: list[dict[str, str]], suffix: str) -> bytes:
    """``rows`` as a report file's bytes: ``.csv`` (UTF-8 with a BOM, for Excel), ``.json`` or ``.html``.

    Raises:
        ValueError: another suffix.
    """
    suffix = suffix.lower()
    if suffix == ".json":
        return (json.dumps(rows, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    if suffix == ".csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[k for k, _zh, _en in COLUMNS])
        writer.writeheader()  # the column keys: the HTML report and COLUMNS name them in Chinese and English
        writer.writerows(rows)
        return out.getvalue().encode("utf-8-sig")
    if suffix == ".html":
        return _html(rows).encode("utf-8")
    raise ValueError(f"a report is {', '.join(REPORT_SUFFIXES)}, not {suffix or 'a file without suffix'}")


def write_report(path: Path, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` to ``path`` as CSV (UTF-8 with a BOM, for Excel), JSON or HTML, by its suffix
    (:func:`render_report`).

    Raises:
        ValueError: another suffix.
    """
    path.write_bytes(render_report(rows, path.suffix))


def _html(rows: list[dict[str, str]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict_zh"]] = counts.get(r["verdict_zh"], 0) + 1
    summary = "，".join(f"{k} {v} 份" for k, v in counts.items())
    head = "".join(f"<th>{html.escape(zh)}<br><small>{html.escape(en)}</small></th>" for _k, zh, en in COLUMNS)
    body = "".join(
        f'<tr class="{html.escape(r["verdict"].lower())}">'
        + "".join(f"<td>{html.escape(r[k])}</td>" for k, _zh, _en in COLUMNS)
        + "</tr>"
        for r in rows
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>证书核验报告 / Verification report</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}tr.invalid td{background:#fde8e8}"
        "tr.valid_with_warnings td{background:#fff6dd}tr.unknown td,tr.error td{background:#eee}</style></head>"
        "<body><h1>证书核验报告 <small>Verification report</small></h1>"
        f"<p>共 {len(rows)} 份：{html.escape(summary)}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>\n"
    )
