"""Review of the issue 14 formats: D-SI lists whose columns disagree in length are refused by code (never a crash
or a silently dropped column), and records with unusual but valid fields round trip through DCC 3.3.0 with the
same digest."""

from __future__ import annotations

import datetime as dt

import pytest

from tracecert.certificate.dcc import DccOverrides, import_dcc
from tracecert.certificate.errors import DccInvalid

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
