"""Review of the issue 14 formats: D-SI lists whose columns disagree in length are refused by code (never a crash
or a silently dropped column), and records with unusual but valid fields round trip through DCC 3.3.0 with the
same digest."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tracecert.certificate.canonical import certificate_digest, record_to_json
from tracecert.certificate.dcc import DccOverrides, export_dcc, import_dcc
from tracecert.certificate.errors import DccInvalid
from tracecert.certificate.model import record_from_json

from .conftest import calibration_json
from .test_dcc_formats import _q, _with_result

_OVERRIDES = DccOverrides(issue_date=dt.date(1957, 8, 14), category_code="1501", lab_code="PTB-7.54")
_EXP_UNC = (
    "<si:expandedUncXMLList><si:uncertaintyXMLList>{u}</si:uncertaintyXMLList>"
    "<si:coverageFactorXMLList>2</si:coverageFactorXMLList>"
    "<si:coverageProbabilityXMLList>0.95</si:coverageProbabilityXMLList></si:expandedUncXMLList>"
)


def _real_list(values: str, units: str, u: str) -> str:
    return (
        f"<si:realListXMLList><si:valueXMLList>{values}</si:valueXMLList><si:unitXMLList>{units}</si:unitXMLList>"
        f"{_EXP_UNC.format(u=u)}</si:realListXMLList>"
    )


def _complex_list(real: str, imag: str, units: str) -> str:
    return (
        f"<si:complexListXMLList><si:valueRealXMLList>{real}</si:valueRealXMLList>"
        f"<si:valueImagXMLList>{imag}</si:valueImagXMLList><si:unitXMLList>{units}</si:unitXMLList>"
        "</si:complexListXMLList>"
    )


@pytest.mark.parametrize(
    ("si", "column"),
    [
        (_real_list("1 2 3", "\\kelvin \\kelvin", "0.1"), "si:unitXMLList"),
        (_real_list("1 2 3", "\\kelvin", "0.1 0.1"), "si:uncertaintyXMLList"),
        (_complex_list("1 2 3", "1 2", "\\volt"), "si:valueImagXMLList"),
        (_complex_list("1 2 3", "1 2 3", "\\volt \\volt"), "si:unitXMLList"),
    ],
    ids=["units", "uncertainties", "imaginary parts", "complex units"],
)
def test_a_dsi_list_whose_columns_disagree_in_length_is_refused_naming_the_column(si: str, column: str) -> None:
    """One column of 2 for 3 values: neither a crash (KeyError) nor a column silently dropped, but DCC_INVALID
    naming the column's XPath."""
    with pytest.raises(DccInvalid) as caught:
        import_dcc(_with_result(_q(si)), _OVERRIDES)
    assert caught.value.code == "DCC_INVALID"
    [error] = caught.value.errors
    assert error.rule == "dsi_list_length"
    assert error.field.startswith("/dcc:digitalCalibrationCertificate/") and error.field.endswith(column)


def test_a_dsi_list_column_of_one_applies_to_every_value() -> None:
    imported = import_dcc(_with_result(_q(_real_list("1 2 3", "\\kelvin", "0.1"))), _OVERRIDES)
    assert [(r.value, r.unit, r.expanded_uncertainty) for r in imported.record.results] == [
        ("1", "\\kelvin", "0.1"),
        ("2", "\\kelvin", "0.1"),
        ("3", "\\kelvin", "0.1"),
    ]


# --- round trip of unusual but valid records ----------------------------------------------------------------


def _variant(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(calibration_json())
    change(doc)
    return doc


def _no_item_manufacturer(doc: dict[str, Any]) -> None:
    del doc["item"]["manufacturer"]


def _components_without_manufacturer(doc: dict[str, Any]) -> None:
    del doc["item"]["manufacturer"], doc["item"]["model"]
    doc["item"]["components"] = [{"name": "p1", "serial_number": "S1"}, {"name": "p2", "serial_number": "S2"}]


def _one_component(doc: dict[str, Any]) -> None:
    doc["item"]["components"] = [{"name": "piece", "serial_number": "S1", "model": "M-1"}]


def _unnumbered_set(doc: dict[str, Any]) -> None:
    del doc["item"]["serial_number"]
    doc["item"]["components"] = [{"name": "p1", "serial_number": "S1"}, {"name": "p2", "asset_number": "A2"}]


def _condition_parts(doc: dict[str, Any]) -> None:
    doc["conditions"] = [
        {"name": "t", "value": "20", "unit": "\\degreecelsius", "expanded_uncertainty": "0.5"},
        {"name": "h", "value": "45", "unit": "\\percent", "coverage_factor": "2"},
        {"name": "p", "value": "101", "unit": "\\kilo\\pascal", "expanded_uncertainty": "1", "coverage_factor": "2"},
    ]


_STANDARD: dict[str, Any] = {
    "name": "std",
    "serial_number": "SN1",
    "manufacturer": "M",
    "model": "Mo",
    "accuracy_class": "0.02",
    "certificate_number": "C1",
    "certificate_digest": "0x" + "ab" * 32,
    "issuing_lab_id": "0x" + "cd" * 32,
    "issuing_lab_name": "中国计量科学研究院",
    "valid_until": "2099-01-01",
    "uncertainty": {"expanded_uncertainty": "0.01", "unit": "\\kelvin", "coverage_factor": "2"},
    "mpe": {"value": "0.1", "unit": "\\kelvin"},
    "in_validity_range": True,
    "traceable": True,
}


def _standard_unnumbered(doc: dict[str, Any]) -> None:
    unnumbered = {k: v for k, v in _STANDARD.items() if k != "certificate_number"}
    doc["standards_used"] = [unnumbered, {"name": "dated only", "valid_until": "2099-01-01"}]


def _standards_sharing_name_and_serial(doc: dict[str, Any]) -> None:
    second = _STANDARD | {"certificate_number": "C2"}
    doc["standards_used"] = [_STANDARD, second, {"name": "x"}, {"name": "x", "model": "m"}]


def _method_without_title(doc: dict[str, Any]) -> None:
    doc["method"] = {"reference": "JJF 1033-2023", "clause": "7.3"}


def _whitespace_in_text(doc: dict[str, Any]) -> None:
    doc["item"]["name"] = "  数字压力计\n\t(二号)  "
    doc["remarks"] = "第一行\r\n第二行\n\n  缩进"


ROUND_TRIPS: dict[str, Callable[[dict[str, Any]], None]] = {
    "text with newlines, tabs, CR and leading spaces (read verbatim from TraceCert's own export)": _whitespace_in_text,
    "item without manufacturer": _no_item_manufacturer,
    "components without manufacturer": _components_without_manufacturer,
    "a set of one component, the set with manufacturer and model": _one_component,
    "an unnumbered set": _unnumbered_set,
    "conditions with U but no k, k but no U": _condition_parts,
    "standards whose certificate has no number": _standard_unnumbered,
    "standards sharing name and serial number": _standards_sharing_name_and_serial,
    "a method without a title": _method_without_title,
}


@pytest.mark.parametrize("change", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_an_unusual_record_round_trips_through_dcc_330(change: Callable[[dict[str, Any]], None]) -> None:
    record = record_from_json(_variant(change))
    again = import_dcc(export_dcc(record)).record
    assert record_to_json(again) == record_to_json(record)
    assert certificate_digest(again) == certificate_digest(record)


@pytest.mark.parametrize(
    ("exported", "expected"),
    [
        (False, "杭州 某衡器 有限公司"),  # a lab's pretty-printed DCC: whitespace runs collapsed
        (True, "  杭州\n\t某衡器   有限公司 "),  # TraceCert's own export: the record's text as it is
    ],
)
def test_text_whitespace_is_kept_only_in_tracecerts_own_export(exported: bool, expected: str) -> None:
    """The same manufacturer name, written with newlines, a tab and runs of spaces: collapsed when a lab wrote the
    DCC, kept when TraceCert exported it (its ``tracecert_originalDocument`` statement says so)."""
    record = record_from_json(_variant(lambda doc: doc["item"].update(manufacturer="杭州 某衡器 有限公司")))
    data = export_dcc(record).replace("杭州 某衡器 有限公司".encode(), "  杭州\n\t某衡器   有限公司 ".encode())
    if not exported:
        data = data.replace(b"tracecert_originalDocument", b"lab_originalDocument")
    assert import_dcc(data).record.item.manufacturer == expected
