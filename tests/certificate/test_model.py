"""The record model: valid records of each kind, and a table of invalid ones asserted by field and rule."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from tracecert.certificate.canonical import record_to_json, to_hex
from tracecert.certificate.errors import RecordInvalid
from tracecert.certificate.model import CertificateRecord, Kind, is_valid_usci, record_from_json

from .conftest import calibration_json, fail_notice_json, verification_json

Doc = dict[str, Any]


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return apply


_DELETE = object()
V, C, F = verification_json, calibration_json, fail_notice_json
SAME_NAME_TWICE = [
    {"name": "张三", "role": "PERFORMER"},
    {"name": "张三", "role": "CHECKER"},
    {"name": "王五", "role": "APPROVER"},
]


@pytest.mark.parametrize("builder", [verification_json, calibration_json, fail_notice_json])
def test_valid_records_round_trip(builder: Callable[[], Doc]) -> None:
    doc = builder()
    record = record_from_json(doc)
    assert record_to_json(record) == doc  # the fixtures are in normal form: nothing added, nothing coerced
    assert record_from_json(json.dumps(doc)) == record
    assert record_from_json(json.dumps(doc).encode()) == record


INVALID: list[tuple[Callable[[], Doc], Callable[[Doc], None], str, str]] = [
    # kind rules
    (V, _set("dates.valid_until", _DELETE), "dates.valid_until", "required_for_kind"),
    (C, _set("results.0.expanded_uncertainty", _DELETE), "results.0.expanded_uncertainty",
     "required_for_kind"),
    (C, _set("results", []), "results", "required_for_kind"),
    (V, _set("conclusion", "FAIL"), "conclusion", "conclusion_for_kind"),
    (V, _set("conclusion", _DELETE), "conclusion", "conclusion_for_kind"),
    (F, _set("conclusion", "PASS"), "conclusion", "conclusion_for_kind"),
    (F, _set("dates.valid_until", "2025-01-01"), "dates.valid_until", "forbidden_for_kind"),
    (V, _set("method.reference", "JJF 1033-2023"), "method.reference", "jjg_method"),
    (F, _set("method.reference", _DELETE), "method.reference", "jjg_method"),
    (V, _set("persons.1.role", "PERFORMER"), "persons", "missing_signatory"),
    (V, _set("lab.authorization_number", _DELETE), "lab.authorization_number", "required_for_kind"),
    (V, _set("customer.mandatory_verification", _DELETE), "customer.mandatory_verification",
     "required_for_kind"),
    (V, _set("standards_used", []), "standards_used", "required_for_kind"),
    (V, _set("standards_used.0.certificate_number", _DELETE),
     "standards_used.0.certificate_number", "required_for_kind"),
    (C, _set("conclusion", "PASS"), "decision_rule", "required_with_conclusion"),
    # dates
    (V, _set("dates.issue_date", "2024-03-03"), "dates.issue_date", "date_order"),
    (V, _set("dates.receipt_date", "2024-03-05"), "dates.receipt_date", "date_order"),
    (V, _set("dates.performance_begin", "2024-03-05"), "dates.performance_end", "date_order"),
    (V, _set("dates.valid_until", "2024-03-04"), "dates.valid_until", "date_order"),
    (V, _set("standards_used.0.valid_until", "2024-03-01"), "standards_used.0.valid_until",
     "standard_expired"),
    (V, _set("dates.issue_date", "2024/03/05"), "dates.issue_date", "date_parsing"),
    (V, _set("dates.issue_date", "2024-03-05T00:00:00"), "dates.issue_date", "date_parsing"),
    # signatories
    (V, _set("persons.2.id", "JDY-002"), "persons.2", "distinct_signatories"),
    (V, _set("persons", SAME_NAME_TWICE), "persons.1", "distinct_signatories"),
    (V, _set("persons", []), "persons", "too_short"),
    (V, _set("persons.0.role", "SEAL"), "persons.0.role", "enum"),
    # results and numbers
    (C, _set("results.0.coverage_factor", _DELETE), "results.0.coverage_factor",
     "required_with_uncertainty"),
    (V, _set("results.0.coverage_probability", "0.95"), "results.0.expanded_uncertainty",
     "required_with_probability"),
    (C, _set("results.0.value", -0.072), "results.0.value", "string_type"),  # a JSON number
    (C, _set("results.0.value", "-0,072"), "results.0.value", "string_pattern_mismatch"),
    (C, _set("results.0.expanded_uncertainty", "-0.1"), "results.0.expanded_uncertainty",
     "string_pattern_mismatch"),
    (C, _set("results.0.coverage_factor", "0.5"), "results.0.coverage_factor",
     "string_pattern_mismatch"),
    (C, _set("results.0.coverage_probability", "95%"), "results.0.coverage_probability",
     "string_pattern_mismatch"),
    (C, _set("results.0.unit", "kg"), "results.0.unit", "string_pattern_mismatch"),
    # identity, ids and codes
    (V, _set("lab.lab_id", "0x" + "00" * 32), "lab.lab_id", "lab_id_mismatch"),
    (V, _set("lab.lab_id", "0x" + "AB" * 32), "lab.lab_id", "string_pattern_mismatch"),
    (V, _set("customer.usci", "91350100M000100Y44"), "customer.usci", "usci_checksum"),
    (V, _set("customer.usci", "9135"), "customer.usci", "string_pattern_mismatch"),
    (V, _set("standards_used.0.certificate_digest", "0x" + "AB" * 32),
     "standards_used.0.certificate_digest", "string_pattern_mismatch"),
    (V, _set("item.serial_number", _DELETE), "item.serial_number", "item_identification"),
    (V, _set("certificate_number", _DELETE), "certificate_number", "required"),
    (V, _set("certificate_number", " JD1"), "certificate_number", "string_pattern_mismatch"),
    (V, _set("item.name", ""), "item.name", "string_too_short"),
    (V, _set("item.name", "   "), "item.name", "string_pattern_mismatch"),
    (V, _set("method", {"clause": "7"}), "method", "reference_or_title"),
    # identifiers: nothing invisible, one spelling (number reuse is judged on what a person sees)
    (V, _set("certificate_number", "HZJL2026-JD-00031\u200b"), "certificate_number",
     "identifier_invisible_character"),
    (V, _set("certificate_number", "HZJL2026-JD-\u200d00031"), "certificate_number",
     "identifier_invisible_character"),
    (V, _set("certificate_number", "\ufeffHZJL2026-JD-00031"), "certificate_number",
     "identifier_invisible_character"),
    (V, _set("certificate_number", "HZJL\u202e13000-DJ-6202"), "certificate_number",
     "identifier_invisible_character"),
    (V, _set("certificate_number", "HZJL\u2066-00031"), "certificate_number", "identifier_invisible_character"),
    (V, _set("certificate_number", "HZJL\t00031"), "certificate_number", "identifier_invisible_character"),
    (V, _set("certificate_number", "HZJL\x7f00031"), "certificate_number", "identifier_invisible_character"),
    (V, _set("certificate_number", "ＨＺＪＬ2026-00031"), "certificate_number", "identifier_not_normalized"),
    (V, _set("certificate_number", "HZJL2026\u3000-00031"), "certificate_number", "identifier_not_normalized"),
    (V, _set("item.serial_number", "SN\u00a0001"), "item.serial_number", "identifier_not_normalized"),
    (V, _set("item.serial_number", "SN-001\u200b"), "item.serial_number", "identifier_invisible_character"),
    (V, _set("item.asset_number", "\u2067A-01"), "item.asset_number", "identifier_invisible_character"),
    (V, _set("standards_used.0.certificate_number", "N\u200c1"), "standards_used.0.certificate_number",
     "identifier_invisible_character"),
    # structure
    (V, _set("colour", "red"), "colour", "unknown_field"),
    (V, _set("item.weight", "3 kg"), "item.weight", "unknown_field"),
    (V, _set("revoked", True), "revoked", "unknown_field"),  # chain status is not record data
    (V, _set("schema_version", "tracecert/2"), "schema_version", "unsupported_value"),
    (V, _set("kind", "PAPER"), "kind", "enum"),
    (V, _set("customer.mandatory_verification", "true"), "customer.mandatory_verification",
     "bool_type"),
    (V, _set("replaces", {"certificate_number": "JD2023-1"}), "replaces.certificate_digest",
     "required"),
    (V, _set("original_document", {"media_type": "PDF", "sha256": "0x" + "00" * 32}),
     "original_document.media_type", "string_pattern_mismatch"),
]  # fmt: skip


@pytest.mark.parametrize(("builder", "mutate", "field", "rule"), INVALID)
def test_invalid_records(builder: Callable[[], Doc], mutate: Callable[[Doc], None], field: str, rule: str) -> None:
    doc = builder()
    mutate(doc)
    with pytest.raises(RecordInvalid) as e:
        record_from_json(doc)
    assert e.value.code == "RECORD_INVALID"
    assert (field, rule) in [(x.field, x.rule) for x in e.value.errors]


def test_all_rule_violations_are_reported_together() -> None:
    doc = verification_json()
    del doc["dates"]["valid_until"]
    doc["persons"][2]["id"] = "JDY-002"
    doc["method"]["reference"] = "ISO 9001"
    with pytest.raises(RecordInvalid) as e:
        record_from_json(doc)
    found = {(x.field, x.rule) for x in e.value.errors}
    assert {("dates.valid_until", "required_for_kind"), ("persons.2", "distinct_signatories"),
            ("method.reference", "jjg_method")} <= found  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ['{"a": 1, "a": 2}', "not json", "[1, 2]", b"\xff"],
)
def test_not_a_record(text: str | bytes) -> None:
    with pytest.raises(RecordInvalid) as e:
        record_from_json(text)
    assert e.value.errors


@pytest.mark.parametrize("number", ["浙计〔2026〕检字第00031号", "HZJL 2026-00031", "Ä-Ö-Ü-1"])
def test_identifiers_in_normal_form_are_kept_verbatim(number: str) -> None:
    doc = verification_json()
    doc["certificate_number"] = number
    assert record_from_json(doc).certificate_number == number


def test_python_construction_runs_the_same_rules() -> None:
    record = record_from_json(verification_json())
    data = record.model_dump()
    assert CertificateRecord(**data) == record
    data["dates"] = {**data["dates"], "valid_until": None}
    with pytest.raises(ValidationError):
        CertificateRecord(**data)


def test_records_are_immutable() -> None:
    record = record_from_json(calibration_json())
    with pytest.raises(ValidationError):
        record.certificate_number = "X"  # type: ignore[misc]
    assert record.kind is Kind.CALIBRATION
    assert record.dates.performance_end == dt.date(2024, 3, 4)
    assert isinstance(record.results, tuple)


def test_decimal_strings_keep_their_digits() -> None:
    doc = calibration_json()
    doc["results"][0]["expanded_uncertainty"] = "0.10"
    doc["results"][0]["value"] = "1.2480E-6"
    record = record_from_json(doc)
    assert record.results[0].expanded_uncertainty == "0.10"
    assert record_to_json(record)["results"][0]["value"] == "1.2480E-6"


def test_usci_check_character() -> None:
    assert is_valid_usci("91350100M000100Y43")
    assert not is_valid_usci("91350100M000100Y44")
    assert not is_valid_usci("91350100M000100Y4")
    assert not is_valid_usci("91350100M000100YI3")  # I is not in the alphabet


def test_lab_id_hex_form() -> None:
    record = record_from_json(verification_json())
    assert record.lab.lab_id.startswith("0x") and len(record.lab.lab_id) == 66
    assert record.lab.lab_id == record.lab.lab_id.lower()
    assert to_hex(bytes.fromhex(record.lab.lab_id[2:])) == record.lab.lab_id
