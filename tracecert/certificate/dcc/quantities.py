"""The import's measured values: D-SI quantities in a DCC's results and influence conditions, read form by form
(``si:real``, ``si:realListXMLList``, ``si:hybrid``) into TraceCert results and conditions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from tracecert.certificate.dcc.schema import NS, SI_NS
from tracecert.certificate.dcc.text import Reader, find_text, ref_types

__all__ = ["Row", "read_conditions", "read_results", "rows_of"]

Row = dict[str, str]
"""One value of a quantity: ``value`` and ``unit``, and ``U``, ``k``, ``p``, ``distribution`` when stated."""

_S = f"{{{SI_NS}}}"
# Row key -> D-SI expandedUnc child (``...XMLList`` in the list forms).
_EXPANDED_UNC = (
    ("U", "uncertainty"),
    ("k", "coverageFactor"),
    ("p", "coverageProbability"),
    ("distribution", "distribution"),
)
# Row key -> result field.
_RESULT_FIELDS = (
    ("U", "expanded_uncertainty"),
    ("k", "coverage_factor"),
    ("p", "coverage_probability"),
    ("distribution", "distribution"),
)
_REFERENCE = {"basic_referenceValue"}
_INDICATED = {"basic_measuredValue", "basic_indicatedValue"}


def _real_rows(real: etree._Element) -> list[Row]:
    row = {"value": find_text(real, "si:value") or "", "unit": find_text(real, "si:unit") or ""}
    unc = real.find("si:expandedUnc", NS)
    if unc is not None:
        for key, tag in _EXPANDED_UNC:
            value = find_text(unc, f"si:{tag}")
            if value is not None:
                row[key] = value
    return [row]


def _split_list(text: str | None) -> list[str]:
    return (text or "").split()


def _broadcast(values: list[str], n: int) -> list[str | None]:
    """A list column as long as the values: as given, one value repeated, or none when the lengths disagree."""
    if len(values) == n:
        return list(values)
    if len(values) == 1:
        return [values[0]] * n
    return [None] * n


def _xml_list_rows(el: etree._Element) -> list[Row]:
    values = _split_list(find_text(el, "si:valueXMLList"))
    n = len(values)
    columns: dict[str, list[str | None]] = {"unit": _broadcast(_split_list(find_text(el, "si:unitXMLList")), n)}
    unc = el.find("si:expandedUncXMLList", NS)
    if unc is not None:
        for key, tag in _EXPANDED_UNC:
            columns[key] = _broadcast(_split_list(find_text(unc, f"si:{tag}XMLList")), n)
    rows = []
    for i, v in enumerate(values):
        row = {"value": v}
        row.update({k: col[i] for k, col in columns.items() if col[i] is not None})  # type: ignore[misc]
        rows.append(row)
    return rows


# The D-SI forms that are mapped, in the order they are looked for; a new form is one more entry. A si:hybrid
# (one quantity in several units) is read through its first child, which D-SI makes the SI one.
_FORMS: dict[str, Callable[[etree._Element], list[Row]]] = {
    _S + "real": _real_rows,
    _S + "realListXMLList": _xml_list_rows,
}


def rows_of(q: etree._Element, reader: Reader, where: str) -> list[Row] | None:
    """Expand the D-SI content of a ``dcc:quantity`` into rows; ``None`` (and a note naming ``where`` and the
    form) for a form that is not mapped."""
    for tag, read in _FORMS.items():
        el = q.find(tag)
        if el is not None:
            return read(el)
    hybrid = q.find(_S + "hybrid")
    if hybrid is not None:
        first = next(iter(hybrid), None)
        read_first = _FORMS.get(first.tag) if first is not None else None
        if first is not None and read_first is not None:
            return read_first(first)
    kinds = [etree.QName(c).localname for c in q if etree.QName(c).namespace == SI_NS]
    form = ", ".join(kinds) or ("noQuantity (text)" if q.find("dcc:noQuantity", NS) is not None else "empty")
    reader.notes.append(f"{where}: skipped a quantity in a form that is not mapped: {form}")
    return None


def _tracecert_uncertainty(q: etree._Element) -> Row:
    """U and k written by :func:`~tracecert.certificate.dcc.export.export_dcc` in measurementMetaData when p
    was not stated."""
    out: Row = {}
    for meta in q.findall("dcc:measurementMetaData/dcc:metaData", NS):
        if "tracecert_uncertainty" in ref_types(meta):
            for mq in meta.findall("dcc:data/dcc:quantity", NS):
                real = mq.find("si:real", NS)
                if real is None:
                    continue
                if "tracecert_U" in ref_types(mq):
                    out["U"] = find_text(real, "si:value") or ""
                elif "tracecert_k" in ref_types(mq):
                    out["k"] = find_text(real, "si:value") or ""
    return out


def _quantity_json(row: Row) -> dict[str, str]:
    return {"value": row["value"], "unit": row["unit"]}


def _label(names: list[str], el: etree._Element, reader: Reader) -> list[str]:
    """The names of the enclosing lists followed by ``el``'s own name, if it has one."""
    return [*names, *filter(None, [reader.name(el)])]


def _expanded(container: etree._Element, reader: Reader, where: str) -> list[tuple[etree._Element, list[Row]]]:
    """The mapped quantities directly in ``container`` with their rows (U and k from TraceCert metadata added)."""
    expanded = []
    for q in container.findall("dcc:quantity", NS):
        rows = rows_of(q, reader, where)
        if rows:
            extra = _tracecert_uncertainty(q)
            if extra:
                for row in rows:
                    row.update(extra)
            expanded.append((q, rows))
    return expanded


def _results_of(
    q: etree._Element,
    rows: list[Row],
    label: str,
    reference: list[Row] | None,
    indicated: list[Row] | None,
) -> list[dict[str, Any]]:
    """One result per row of ``q``; the reference and indicated quantities pair up row by row when as long."""
    refs = ref_types(q)
    adjustment = next((a for a in ("BEFORE", "AFTER") if f"tracecert_adjustment_{a}" in refs), None)
    results = []
    for i, row in enumerate(rows):
        result: dict[str, Any] = {"quantity": label or "result", "value": row["value"], "unit": row["unit"]}
        for key, name in _RESULT_FIELDS:
            if key in row:
                result[name] = row[key]
        if reference is not None and len(reference) == len(rows):
            result["reference_value"] = _quantity_json(reference[i])
        if indicated is not None and len(indicated) == len(rows):
            result["indicated_value"] = _quantity_json(indicated[i])
        if adjustment:
            result["adjustment"] = adjustment
        results.append(result)
    return results


def _walk_results(
    container: etree._Element, names: list[str], reader: Reader, keep_without_u: bool
) -> list[dict[str, Any]]:
    """The results of a ``dcc:data`` or ``dcc:list``, then those of its nested lists."""
    where = " / ".join(names) or "results"
    expanded = _expanded(container, reader, where)
    reference = next((rows for q, rows in expanded if ref_types(q) & _REFERENCE), None)
    indicated = next((rows for q, rows in expanded if ref_types(q) & _INDICATED), None)
    out: list[dict[str, Any]] = []
    for q, rows in expanded:
        if rows is reference or rows is indicated:
            continue
        if not keep_without_u and not all("U" in row for row in rows):
            reader.notes.append(f"{where}: skipped {len(rows)} value(s) without expanded uncertainty")
            continue
        out += _results_of(q, rows, " / ".join(_label(names, q, reader)), reference, indicated)
    for sub in container.findall("dcc:list", NS):
        out += _walk_results(sub, _label(names, sub, reader), reader, keep_without_u)
    return out


def _walk_conditions(container: etree._Element, names: list[str], reader: Reader) -> list[dict[str, Any]]:
    """The conditions of a ``dcc:data`` or ``dcc:list`` (U and k only when both are stated), then nested ones."""
    out: list[dict[str, Any]] = []
    for q in container.findall("dcc:quantity", NS):
        rows = rows_of(q, reader, " / ".join(names)) or []
        label = " / ".join(_label(names, q, reader))
        for row in rows:
            cond: dict[str, Any] = {"name": label or "condition", "value": row["value"], "unit": row["unit"]}
            stated = {**row, **_tracecert_uncertainty(q)}
            if "U" in stated and "k" in stated:
                cond["expanded_uncertainty"] = stated["U"]
                cond["coverage_factor"] = stated["k"]
            out.append(cond)
    for sub in container.findall("dcc:list", NS):
        out += _walk_conditions(sub, _label(names, sub, reader), reader)
    return out


def read_results(mr: etree._Element, reader: Reader, keep_without_u: bool) -> list[dict[str, Any]]:
    """The results of one ``dcc:measurementResult``, named after the result and list names that hold them.

    Values without an expanded uncertainty are skipped (with a note) unless ``keep_without_u``; the
    ``basic_referenceValue`` and ``basic_measuredValue``/``basic_indicatedValue`` quantities of a result become
    the reference and indicated values of the others.
    """
    out: list[dict[str, Any]] = []
    for res in mr.findall("dcc:results/dcc:result", NS):
        data = res.find("dcc:data", NS)
        if data is not None:
            out += _walk_results(data, _label([], res, reader), reader, keep_without_u)
    return out


def read_conditions(mr: etree._Element, reader: Reader) -> list[dict[str, Any]]:
    """The influence conditions of one ``dcc:measurementResult``, named after the condition and list names."""
    out: list[dict[str, Any]] = []
    for cond in mr.findall("dcc:influenceConditions/dcc:influenceCondition", NS):
        data = cond.find("dcc:data", NS)
        if data is not None:
            out += _walk_conditions(data, _label([], cond, reader), reader)
    return out
