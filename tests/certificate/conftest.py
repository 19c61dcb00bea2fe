"""Shared builders: valid records of each kind, as JSON objects (tests mutate copies of them)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tracecert.certificate.canonical import lab_id, to_hex

DCC_EXAMPLES = Path(__file__).parent / "data" / "dcc"
"""Unchanged copies of the PTB example DCCs (see data/dcc/README.md)."""

LAB_CODE = "12330000470000123T"
CUSTOMER_USCI = "91350100M000100Y43"
STANDARD_DIGEST = "0x" + "ab" * 32


def verification_json() -> dict[str, Any]:
    """A valid 检定证书 for a non-automatic weighing instrument."""
    return {
        "schema_version": "tracecert/1",
        "kind": "VERIFICATION",
        "certificate_number": "JD2024-00017",
        "dates": {
            "receipt_date": "2024-03-01",
            "performance_begin": "2024-03-04",
            "performance_end": "2024-03-04",
            "issue_date": "2024-03-05",
            "valid_until": "2025-03-03",
        },
        "item": {
            "name": "电子计价秤",
            "category_code": "0201",
            "manufacturer": "某衡器有限公司",
            "model": "ACS-30",
            "serial_number": "A2310045",
            "accuracy_class": "III",
            "mpe": {"value": "5", "unit": "\\gram"},
        },
        "customer": {
            "name": "某农贸市场",
            "usci": CUSTOMER_USCI,
            "address": "某市某路 1 号",
            "mandatory_verification": True,
            "use": "贸易结算",
        },
        "lab": {
            "lab_id": to_hex(lab_id(LAB_CODE)),
            "code": LAB_CODE,
            "name": "某市计量检定测试所",
            "authorization_number": "(浙)法计(2022)01001号",
        },
        "persons": [
            {"name": "张三", "role": "PERFORMER", "id": "JDY-001"},
            {"name": "李四", "role": "CHECKER", "id": "JDY-002"},
            {"name": "王五", "role": "APPROVER", "id": "JDY-003"},
        ],
        "method": {"reference": "JJG 539-2016", "title": "数字指示秤", "clause": "7"},
        "conditions": [{"name": "环境温度", "value": "21.5", "unit": "\\degreeCelsius"}],
        "results": [
            {
                "quantity": "示值误差 (15 kg)",
                "value": "0.5",
                "unit": "\\gram",
                "reference_value": {"value": "15000", "unit": "\\gram"},
            }
        ],
        "standards_used": [
            {
                "name": "M1 等级砝码",
                "serial_number": "FM-2019-88",
                "certificate_number": "ZJ2023-1234",
                "certificate_digest": STANDARD_DIGEST,
                "valid_until": "2024-12-31",
                "mpe": {"value": "0.75", "unit": "\\gram"},
            }
        ],
        "conclusion": "PASS",
        "traceability_statement": "溯源至国家质量基准",
    }


def calibration_json() -> dict[str, Any]:
    """A valid 校准证书 with U, k and p on every result."""
    doc = verification_json()
    doc.update(
        kind="CALIBRATION",
        certificate_number="JZ2024-00321",
        method={"reference": "JJF 1033-2023", "title": "数字温度计校准"},
        results=[
            {
                "quantity": "示值误差 (100 °C)",
                "value": "-0.072",
                "unit": "\\kelvin",
                "expanded_uncertainty": "0.10",
                "coverage_factor": "2",
                "coverage_probability": "0.95",
            }
        ],
    )
    del doc["conclusion"]
    doc["dates"] = {**doc["dates"]}
    del doc["dates"]["valid_until"]
    return doc


def fail_notice_json() -> dict[str, Any]:
    """A valid 检定结果通知书."""
    doc = verification_json()
    doc.update(kind="VERIFICATION_FAIL_NOTICE", certificate_number="TZ2024-00002", conclusion="FAIL")
    doc["dates"] = {**doc["dates"]}
    del doc["dates"]["valid_until"]
    return doc


@pytest.fixture
def verification() -> dict[str, Any]:
    return copy.deepcopy(verification_json())


@pytest.fixture
def calibration() -> dict[str, Any]:
    return copy.deepcopy(calibration_json())
