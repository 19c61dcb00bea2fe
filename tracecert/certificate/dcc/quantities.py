"""The import's measured values: D-SI quantities in a DCC's results and influence conditions, read form by form
into TraceCert results and conditions.

Every D-SI form of D-SI 2.1 and 2.2 is read: ``si:real``, ``si:constant``, ``si:realList``,
``si:realListXMLList``, ``si:complex``, ``si:complexList``, ``si:complexListXMLList``, ``si:list`` (nested) and
``si:hybrid`` (the same values in several units: the first, SI, one is kept). Uncertainty is read in each of
its forms: D-SI 2.1's ``expandedUnc`` and ``coverageInterval`` (and the list forms), and D-SI 2.2's
``measurementUncertaintyUnivariate`` (``expandedMU``, ``standardMU``, ``coverageIntervalMU``). A complex value
becomes two rows (real and imaginary part, or magnitude and phase), each with the standard uncertainty from the
diagonal of its covariance matrix. Whatever cannot be mapped (a hybrid's other units, correlations between
components, multivariate regions over lists) is a note naming its XPath: nothing is dropped silently.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

from lxml import etree

from tracecert.certificate.dcc.schema import NS, SI_NS
from tracecert.certificate.dcc.text import Reader, find_text, ref_types
from tracecert.certificate.errors import DccInvalid, FieldError

__all__ = ["Row", "read_conditions", "read_results", "rows_of", "xpath"]

Row = dict[str, str]
"""One value of a quantity: ``value`` and ``unit``; ``U``, ``k``, ``p``, ``distribution`` (expanded
uncertainty), ``u`` (standard uncertainty), ``min``/``max``/``ip`` (coverage interval and its probability) when
stated; ``part`` for a
component of a complex value."""

_S = f"{{{SI_NS}}}"
# Row key -> result field.
_RESULT_FIELDS = (
    ("U", "expanded_uncertainty"),
    ("k", "coverage_factor"),
    ("p", "coverage_probability"),
    ("distribution", "distribution"),
    ("u", "standard_uncertainty"),
)
_REFERENCE = {"basic_referenceValue"}
_INDICATED = {"basic_measuredValue", "basic_indicatedValue"}

# Uncertainty forms: (element, {row key: child}) for one value; the XMLList forms add "XMLList" to each name.
_UNC_FORMS: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "expandedMU",
        {"U": "valueExpandedMU", "k": "coverageFactor", "p": "coverageProbability", "distribution": "distribution"},
    ),
    ("standardMU", {"u": "valueStandardMU", "distribution": "distribution"}),
    (
        "coverageIntervalMU",
        {
            "u": "valueStandardMU",
            "min": "intervalMin",
            "max": "intervalMax",
            "ip": "coverageProbability",
            "distribution": "distribution",
        },
    ),
    (
        "expandedUnc",
        {"U": "uncertainty", "k": "coverageFactor", "p": "coverageProbability", "distribution": "distribution"},
    ),
    (
        "coverageInterval",
        {
            "u": "standardUnc",
            "min": "intervalMin",
            "max": "intervalMax",
            "ip": "coverageProbability",
            "distribution": "distribution",
        },
    ),
)
# D-SI 2.2 wraps its forms in measurementUncertaintyUnivariate (spelt "...Univaraite" in realInListType).
_MU_WRAPPERS = ("measurementUncertaintyUnivariate", "measurementUncertaintyUnivaraite")


def xpath(el: etree._Element) -> str:
    """The XPath of ``el`` in its document, with the document's prefixes (``/dcc:…/si:real``)."""
    return str(el.getroottree().getpath(el))


class _Forms:
    """Reads the D-SI content of one quantity; collects the notes of what it cannot map."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def note(self, el: etree._Element, what: str) -> None:
        self.reader.notes.append(f"{xpath(el)}: {what}")

    # -- uncertainty --------------------------------------------------------------------------------------

    def unc(self, el: etree._Element) -> Row:
        """The uncertainty of one value (children of a real, realInList, or a list's common uncertainty)."""
        holders = [el, *(w for name in _MU_WRAPPERS if (w := el.find(_S + name)) is not None)]
        for holder in holders:
            for form, fields in _UNC_FORMS:
                found = holder.find(_S + form)
                if found is not None:
                    return {key: v for key, tag in fields.items() if (v := find_text(found, f"si:{tag}")) is not None}
        return {}

    def unc_columns(self, el: etree._Element, n: int) -> dict[str, list[str | None]]:
        """The uncertainty columns of an XMLList form, each as long as the values."""
        holders = [el, *(w for name in _MU_WRAPPERS if (w := el.find(f"{_S}{name}XMLList")) is not None)]
        for holder in holders:
            for form, fields in _UNC_FORMS:
                found = holder.find(f"{_S}{form}XMLList")
                if found is not None:
                    return {key: _column(found, f"si:{tag}XMLList", n) for key, tag in fields.items()}
        for multi in (
            "measurementUncertaintyMultivariateXMLList",
            "ellipsoidalRegionXMLList",
            "rectangularRegionXMLList",
        ):
            found = el.find(_S + multi)
            if found is not None:
                self.note(found, "a multivariate uncertainty region over the list is not mapped (values kept)")
        return {}

    # -- the forms ----------------------------------------------------------------------------------------

    def real(self, el: etree._Element, unit: str | None = None, inherited: Row | None = None) -> list[Row]:
        row: Row = {"value": find_text(el, "si:value") or "", "unit": find_text(el, "si:unit") or unit or ""}
        row.update(self.unc(el) or (inherited or {}))
        return [row]

    def constant(self, el: etree._Element) -> list[Row]:
        row: Row = {"value": find_text(el, "si:value") or "", "unit": find_text(el, "si:unit") or ""}
        u = find_text(el, "si:valueStandardMU") or find_text(el, "si:uncertainty")
        if u is not None:
            row["u"] = u
        distribution = find_text(el, "si:distribution")
        if distribution is not None:
            row["distribution"] = distribution
        return [row]

    def real_list_xml(self, el: etree._Element) -> list[Row]:
        values = _split(find_text(el, "si:valueXMLList"))
        n = len(values)
        columns: dict[str, list[str | None]] = {"unit": _column(el, "si:unitXMLList", n)}
        columns.update(self.unc_columns(el, n))
        return [
            {"value": v, **{k: col[i] for k, col in columns.items() if col[i] is not None}}  # type: ignore[misc]
            for i, v in enumerate(values)
        ]

    def real_list(self, el: etree._Element) -> list[Row]:
        unit = find_text(el, "si:listUnit")
        common: Row = {}
        for name in ("listUnivariateUnc", "listMeasurementUncertaintyUnivariate"):
            found = el.find(_S + name)
            if found is not None:
                common = self.unc(found)
        self._regions(el, "over the list")
        rows: list[Row] = []
        for real in el.findall("si:real", NS):
            rows += self.real(real, unit, common)
        return rows

    def complex(self, el: etree._Element, unit: str | None = None, unit_phase: str | None = None) -> list[Row]:
        u_unit = find_text(el, "si:unit") or unit or ""
        if find_text(el, "si:valueReal") is not None:
            parts = [
                ("real part", find_text(el, "si:valueReal") or "", u_unit),
                ("imaginary part", find_text(el, "si:valueImag") or "", u_unit),
            ]
        else:
            phase_unit = find_text(el, "si:unitPhase") or unit_phase or ""
            parts = [
                ("magnitude", find_text(el, "si:valueMagnitude") or "", u_unit),
                ("phase", find_text(el, "si:valuePhase") or "", phase_unit),
            ]
        rows = [{"value": v, "unit": unit_, "part": part} for part, v, unit_ in parts]
        diagonal = self._regions(el, "of the complex value")
        if diagonal is not None and len(diagonal) == 2:
            for row, variance in zip(rows, diagonal, strict=True):
                u = _sqrt(variance)
                if u is not None:
                    row["u"] = u
        return rows

    def complex_list(self, el: etree._Element) -> list[Row]:
        unit, unit_phase = find_text(el, "si:listUnit"), find_text(el, "si:listUnitPhase")
        self._regions(el, "over the list")
        bivariate = el.find("si:listBivariateUnc", NS)
        if bivariate is not None:
            self.note(bivariate, "a common uncertainty region of the complex list is not mapped (values kept)")
        rows: list[Row] = []
        for c in el.findall("si:complex", NS):
            rows += self.complex(c, unit, unit_phase)
        return rows

    def complex_list_xml(self, el: etree._Element) -> list[Row]:
        if find_text(el, "si:valueRealXMLList") is not None:
            first = _split(find_text(el, "si:valueRealXMLList"))
            second_tag, names, second_unit_tag = "si:valueImagXMLList", ("real part", "imaginary part"), None
        else:
            first = _split(find_text(el, "si:valueMagnitudeXMLList"))
            second_tag, names, second_unit_tag = "si:valuePhaseXMLList", ("magnitude", "phase"), "si:unitPhaseXMLList"
        n = len(first)
        u1, v2 = _column(el, "si:unitXMLList", n), _column(el, second_tag, n, each=True)
        u2 = _column(el, second_unit_tag, n) if second_unit_tag is not None else u1
        for unc in ("measurementUncertaintyBivariateXMLList", "measurementUncertaintyMultivariateXMLList"):
            found = el.find(_S + unc)
            if found is not None:
                self.note(found, "the uncertainty regions of the complex list are not mapped (values kept)")
        rows: list[Row] = []
        for i, v in enumerate(first):
            rows.append({"value": v, "unit": u1[i] or "", "part": names[0]})
            rows.append({"value": v2[i] or "", "unit": u2[i] or "", "part": names[1]})
        return rows

    def si_list(self, el: etree._Element) -> list[Row]:
        rows: list[Row] = []
        for child in el:
            if not isinstance(child.tag, str) or child.tag in (_S + "label", _S + "dateTime"):
                continue
            read = self.forms.get(child.tag)
            if read is None:
                self.note(child, f"a {etree.QName(child).localname} inside si:list is not mapped")
                continue
            rows += read(child)
        return rows

    def hybrid(self, el: etree._Element) -> list[Row]:
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            return []
        first, others = children[0], children[1:]
        read = self.forms.get(first.tag)
        if read is None:  # pragma: no cover - the XSD allows only the forms above
            self.note(first, "a hybrid whose first form is not mapped")
            return []
        units = sorted({u for c in others for u in _units(c)})
        if others:
            self.note(
                el,
                f"si:hybrid: the values are kept in their first unit ({', '.join(sorted(_units(first))) or '?'}); "
                f"the same values in {', '.join(units) or 'other units'} are not repeated",
            )
        return read(first)

    @property
    def forms(self) -> dict[str, Callable[[etree._Element], list[Row]]]:
        return {
            _S + "real": self.real,
            _S + "constant": self.constant,
            _S + "realList": self.real_list,
            _S + "realListXMLList": self.real_list_xml,
            _S + "complex": self.complex,
            _S + "complexList": self.complex_list,
            _S + "complexListXMLList": self.complex_list_xml,
            _S + "list": self.si_list,
            _S + "hybrid": self.hybrid,
        }

    def _regions(self, el: etree._Element, where: str) -> list[str] | None:
        """The diagonal (variances) of an ellipsoidal or rectangular region's covariance matrix directly in
        ``el``; a note that the correlations are not kept."""
        for name in ("ellipsoidalRegion", "rectangularRegion"):
            region = el.find(_S + name)
            if region is None:
                continue
            columns = region.findall("si:covarianceMatrix/si:column", NS)
            diagonal: list[str] = []
            for i, column in enumerate(columns):
                cov = column.findall("si:covariance", NS)
                if i < len(cov):
                    diagonal.append(find_text(cov[i], "si:value") or "")
            self.note(
                region,
                f"si:{name} {where}: each component keeps its standard uncertainty (from the covariance "
                "matrix's diagonal); the correlations between components are not kept",
            )
            return diagonal
        return None


def _split(text: str | None) -> list[str]:
    return (text or "").split()


def _column(el: etree._Element, tag: str, n: int, *, each: bool = False) -> list[str | None]:
    """The column ``tag`` of an XMLList form under ``el``, as long as its ``n`` values: as given, one value
    repeated (unless ``each`` value needs its own), or none when the column is absent.

    Raises:
        DccInvalid: the column has another length (rule ``dsi_list_length``, naming its XPath): which of its
            entries belongs to which value cannot be told, so none is guessed and none is dropped.
    """
    found = el.find(tag, NS)
    values = _split(found.text) if found is not None else []
    if len(values) == n or (not values and found is None):
        return list(values) if values else [None] * n
    if len(values) == 1 and not each:
        return [values[0]] * n
    assert found is not None
    raise DccInvalid(
        f"a D-SI list has {n} values but {len(values)} entries in {tag}",
        [FieldError(xpath(found), "dsi_list_length", f"{len(values)} entries for {n} values (one or {n} expected)")],
    )


def _units(el: etree._Element) -> set[str]:
    out: set[str] = set()
    for tag in ("unit", "unitXMLList", "listUnit"):
        for found in el.iter(_S + tag):
            out.update(_split(found.text))
    return out


def _sqrt(variance: str) -> str | None:
    """The square root of a decimal variance, to as many significant digits as the variance states (at least
    two); ``None`` for a negative or malformed value."""
    try:
        value = decimal.Decimal(variance)
    except decimal.InvalidOperation:
        return None
    if value < 0 or not value.is_finite():
        return None
    with decimal.localcontext() as ctx:
        ctx.prec = max(2, len(value.as_tuple().digits))
        return str(value.sqrt())


def rows_of(q: etree._Element, reader: Reader, where: str) -> list[Row] | None:
    """Expand the D-SI content of a ``dcc:quantity`` into rows; ``None`` (and a note naming the quantity's XPath
    and what it holds) for a quantity without D-SI values (text, formula, bytes)."""
    forms = _Forms(reader)
    for child in q:
        if isinstance(child.tag, str) and child.tag in forms.forms:
            return forms.forms[child.tag](child)
    kinds = [etree.QName(c).localname for c in q if isinstance(c.tag, str) and etree.QName(c).namespace != SI_NS]
    held = next((k for k in kinds if k in ("noQuantity", "charsXMLList", "const", "formula", "byteData", "xml")), None)
    reader.notes.append(f"{xpath(q)}: {where}: no D-SI value to map ({held or 'empty'}); not a result")
    return None


_META_KEYS = ("U", "k", "p", "u", "min", "max", "ip", "distribution")


def _tracecert_uncertainty(q: etree._Element) -> Row:
    """The uncertainty parts :func:`~tracecert.certificate.dcc.export.export_dcc` writes in measurementMetaData
    when D-SI has no form for them (U without p, u beside U, an interval without u): one quantity per part,
    refType ``tracecert_<part>``."""
    out: Row = {}
    for meta in q.findall("dcc:measurementMetaData/dcc:metaData", NS):
        if "tracecert_uncertainty" not in ref_types(meta):
            continue
        for mq in meta.findall("dcc:data/dcc:quantity", NS):
            key = next((t[len("tracecert_") :] for t in ref_types(mq) if t.startswith("tracecert_")), None)
            if key not in _META_KEYS:
                continue
            value = find_text(mq, "si:real/si:value") or find_text(mq, "dcc:noQuantity/dcc:content")
            if value is not None:
                out[key] = value
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
        name = f"{label or 'result'} ({row['part']})" if "part" in row else label or "result"
        result: dict[str, Any] = {"quantity": name, "value": row["value"], "unit": row["unit"]}
        for key, field_name in _RESULT_FIELDS:
            if key in row:
                result[field_name] = row[key]
        if "min" in row and "max" in row:
            interval = {"min": row["min"], "max": row["max"]}
            result["coverage_interval"] = interval | ({"coverage_probability": row["ip"]} if "ip" in row else {})
        if reference is not None and len(reference) == len(rows):
            result["reference_value"] = _quantity_json(reference[i])
        if indicated is not None and len(indicated) == len(rows):
            result["indicated_value"] = _quantity_json(indicated[i])
        if adjustment:
            result["adjustment"] = adjustment
        results.append(result)
    return results


def _has_uncertainty(row: Row) -> bool:
    return "U" in row or "u" in row


def _walk_results(
    container: etree._Element, names: list[str], reader: Reader, keep_without_u: bool
) -> list[dict[str, Any]]:
    """The results of a ``dcc:data`` or ``dcc:list``, then those of its nested lists."""
    where = " / ".join(names) or "results"
    expanded = _expanded(container, reader, where)
    reference = next((rows for q, rows in expanded if ref_types(q) & _REFERENCE), None)
    indicated = next((rows for q, rows in expanded if ref_types(q) & _INDICATED), None)
    out: list[dict[str, Any]] = []
    paired = False
    for q, rows in expanded:
        if rows is reference or rows is indicated:
            continue
        if not keep_without_u and not all(_has_uncertainty(row) for row in rows):
            reader.notes.append(
                f"{xpath(q)}: {where}: {len(rows)} value(s) without uncertainty are not a calibration result "
                "(a CALIBRATION result states U or u)"
            )
            continue
        new = _results_of(q, rows, " / ".join(_label(names, q, reader)), reference, indicated)
        paired = paired or any("reference_value" in r or "indicated_value" in r for r in new)
        out += new
    for q, rows in expanded:
        if (rows is reference or rows is indicated) and not paired:
            role = "reference" if rows is reference else "indicated"
            if keep_without_u or all(_has_uncertainty(row) for row in rows):
                out += _results_of(q, rows, " / ".join(_label(names, q, reader)), None, None)
            else:
                reader.notes.append(
                    f"{xpath(q)}: {where}: {len(rows)} {role} value(s) pair with no result and state no "
                    "uncertainty; not a calibration result"
                )
    for sub in container.findall("dcc:list", NS):
        out += _walk_results(sub, _label(names, sub, reader), reader, keep_without_u)
    return out


def _walk_conditions(container: etree._Element, names: list[str], reader: Reader) -> list[dict[str, Any]]:
    """The conditions of a ``dcc:data`` or ``dcc:list`` (U and k as stated; u alone as U with k = 1), then nested
    ones."""
    out: list[dict[str, Any]] = []
    for q in container.findall("dcc:quantity", NS):
        rows = rows_of(q, reader, " / ".join(names)) or []
        label = " / ".join(_label(names, q, reader))
        for row in rows:
            name = f"{label or 'condition'} ({row['part']})" if "part" in row else label or "condition"
            cond: dict[str, Any] = {"name": name, "value": row["value"], "unit": row["unit"]}
            stated = {**row, **_tracecert_uncertainty(q)}
            if "U" in stated:  # a condition may state U without k (and k without U): each is kept
                cond["expanded_uncertainty"] = stated["U"]
                if "k" in stated:
                    cond["coverage_factor"] = stated["k"]
            elif "u" in stated:
                cond["expanded_uncertainty"] = stated["u"]
                cond["coverage_factor"] = "1"
            elif "k" in stated:
                cond["coverage_factor"] = stated["k"]
            out.append(cond)
    for sub in container.findall("dcc:list", NS):
        out += _walk_conditions(sub, _label(names, sub, reader), reader)
    return out


def read_results(mr: etree._Element, reader: Reader, keep_without_u: bool) -> list[dict[str, Any]]:
    """The results of one ``dcc:measurementResult``, named after the result and list names that hold them.

    Values without an uncertainty (U or u) are left out (with a note naming them) unless ``keep_without_u``;
    the ``basic_referenceValue`` and ``basic_measuredValue``/``basic_indicatedValue`` quantities of a result
    become the reference and indicated values of the others, or results of their own when nothing pairs with
    them.
    """
    out: list[dict[str, Any]] = []
    for res in mr.findall("dcc:results/dcc:result", NS):
        data = res.find("dcc:data", NS)
        if data is not None:
            out += _walk_results(data, _label([], res, reader), reader, keep_without_u)
    return out


def read_conditions(mr: etree._Element, reader: Reader) -> list[dict[str, Any]]:
    """The influence conditions of one ``dcc:measurementResult`` (or the global ones of DCC 3.3), named after
    the condition and list names."""
    out: list[dict[str, Any]] = []
    for cond in mr.findall("dcc:influenceConditions/dcc:influenceCondition", NS):
        data = cond.find("dcc:data", NS)
        if data is not None:
            out += _walk_conditions(data, _label([], cond, reader), reader)
    return out
