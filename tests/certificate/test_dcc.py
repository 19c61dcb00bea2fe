"""DCC XML: the PTB examples import, export to 3.3.0 and re-validate; unsafe and malformed inputs are refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tracecert.certificate.canonical import (
    certificate_digest,
    document_digest,
    lab_id,
    record_to_json,
    to_hex,
)
from tracecert.certificate.dcc import (
    DccOverrides,
    export_dcc,
    import_dcc,
    parse_dcc,
    validate_dcc,
)
from tracecert.certificate.errors import DccError, DccIncomplete, RecordInvalid
from tracecert.certificate.model import Kind, record_from_json

from .conftest import DCC_EXAMPLES, calibration_json, fail_notice_json, verification_json

EXAMPLES = {
    "ptb-example-3.0.0.xml": "3.0.0",
    "ptb-vacuumlab-CDG-3.1.1.xml": "3.1.1",
    "gp-temperature-typical-3.1.1.xml": "3.1.1",
}


def _overrides(data: bytes) -> DccOverrides:
    # The GP example is dated 1957; the issue date must not precede its performance date.
    issue = dt.date(1957, 8, 14) if b"1957-08-13" in data else dt.date(2021, 1, 11)
    return DccOverrides(issue_date=issue, category_code="1501", lab_code="PTB-7.54")


def _example(name: str) -> bytes:
    return (DCC_EXAMPLES / name).read_bytes()


@pytest.mark.parametrize(("name", "version"), EXAMPLES.items())
def test_examples_validate(name: str, version: str) -> None:
    assert validate_dcc(_example(name)) == version


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_import_export_and_revalidate(name: str) -> None:
    data = _example(name)
    imported = import_dcc(data, _overrides(data))
    record = imported.record
    assert imported.schema_version == EXAMPLES[name]
    assert record.kind is Kind.CALIBRATION
    assert record.original_document is not None
    assert record.original_document.sha256 == to_hex(document_digest(data)) == to_hex(imported.document_sha256)
    assert record.lab.lab_id == to_hex(lab_id("PTB-7.54"))
    assert record.results and all(r.expanded_uncertainty and r.coverage_factor for r in record.results)

    exported = export_dcc(record)
    assert validate_dcc(exported) == "3.3.0"
    again = import_dcc(exported).record  # the export carries issue date, category and lab code itself
    assert record_to_json(again) | {"original_document": None} == record_to_json(record) | {"original_document": None}


def test_example_mapping_details() -> None:
    gp = import_dcc(_example("gp-temperature-typical-3.1.1.xml"), _overrides(b"1957-08-13")).record
    assert gp.certificate_number == "GP_DCC_temperature_typical_1.2"
    assert gp.dates.valid_until == dt.date(1959, 10, 22)  # basic_recalibration statement
    assert gp.item.serial_number == "string-manufacturer-item"
    assert gp.item.asset_number == "string-customer-item"
    assert gp.method.reference == "DKD-R 5-1:2018"
    assert gp.conclusion is not None and gp.conclusion.value == "PASS" and gp.decision_rule
    assert [s.name for s in gp.standards_used] == ["Pt 100 thermometer"]
    first = gp.results[0]
    assert (first.value, first.unit, first.expanded_uncertainty, first.coverage_factor) == (
        "0.072", "\\kelvin", "0.061", "2",
    )  # fmt: skip
    assert first.reference_value is not None and first.reference_value.value == "306.248"
    assert first.indicated_value is not None and first.indicated_value.value == "306.32"
    assert len(gp.results) == 5

    ptb = import_dcc(_example("ptb-example-3.0.0.xml"), _overrides(b""))
    assert [c.serial_number for c in ptb.record.item.components] == ["1040917", "1040918"]
    assert ptb.record.results[0].value == "10.000006E-3"  # decimal strings keep the DCC's notation
    assert any("noQuantity" in n for n in ptb.notes)  # skipped parts are reported, not silently dropped

    vac = import_dcc(_example("ptb-vacuumlab-CDG-3.1.1.xml"), _overrides(b"")).record
    assert len(vac.results) == 56
    assert vac.lab.country_code == "DE"


@pytest.mark.parametrize("builder", [verification_json, calibration_json, fail_notice_json])
def test_export_of_native_records_round_trips(builder: Callable[[], dict[str, Any]]) -> None:
    """Everything a record holds survives DCC 3.3.0 export and import: the same record, the same digest."""
    record = record_from_json(builder())
    exported = export_dcc(record)
    assert validate_dcc(exported) == "3.3.0"
    again = import_dcc(exported)
    assert record_to_json(again.record) == record_to_json(record)
    assert certificate_digest(again.record) == certificate_digest(record)
    assert again.notes == ()


def test_uncertainty_without_probability_survives_export() -> None:
    doc = calibration_json()
    del doc["results"][0]["coverage_probability"]  # D-SI expandedUnc needs p; TraceCert does not
    record = record_from_json(doc)
    again = import_dcc(export_dcc(record)).record
    assert again.results[0].expanded_uncertainty == "0.10" and again.results[0].coverage_factor == "2"
    assert again.results[0].coverage_probability is None


def test_missing_data_is_named_not_invented() -> None:
    with pytest.raises(DccIncomplete) as e:
        import_dcc(_example("ptb-vacuumlab-CDG-3.1.1.xml"))
    assert e.value.code == "DCC_INCOMPLETE"
    assert {x.field for x in e.value.errors} == {"dates.issue_date", "item.category_code", "lab.lab_id"}
    assert all(x.rule == "missing_in_dcc" for x in e.value.errors)


def test_mapped_record_still_obeys_the_rules() -> None:
    data = _example("ptb-vacuumlab-CDG-3.1.1.xml")
    early = DccOverrides(issue_date=dt.date(2020, 8, 1), category_code="1501", lab_code="PTB")
    with pytest.raises(RecordInvalid) as e:
        import_dcc(data, early)
    assert ("dates.issue_date", "date_order") in [(x.field, x.rule) for x in e.value.errors]


def test_tampered_xml_changes_both_digests() -> None:
    data = _example("ptb-vacuumlab-CDG-3.1.1.xml")
    tampered = data.replace(b"<si:value>296.719</si:value>", b"<si:value>296.718</si:value>", 1)
    assert tampered != data
    a, b = import_dcc(data, _overrides(data)).record, import_dcc(tampered, _overrides(tampered)).record
    assert a.original_document != b.original_document
    assert certificate_digest(a) != certificate_digest(b)


DCC_HEAD = b'<dcc:digitalCalibrationCertificate xmlns:dcc="https://ptb.de/dcc" schemaVersion="3.1.1">'
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<lolz>&lol9;</lolz>"""
XXE = (
    b"""<?xml version="1.0"?>
<!DOCTYPE dcc:digitalCalibrationCertificate [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""
    + DCC_HEAD
    + b"&xxe;</dcc:digitalCalibrationCertificate>"
)
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.invalid/x.dtd"><x/>'
PARAMETER_ENTITY = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://example.invalid/p">%p;]><x/>'
VACUUM = (DCC_EXAMPLES / "ptb-vacuumlab-CDG-3.1.1.xml").read_bytes()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (BILLION_LAUGHS, "XML_UNSAFE"),  # exponential entity expansion
        (XXE, "XML_UNSAFE"),  # external entity reading a local file
        (EXTERNAL_DTD, "XML_UNSAFE"),  # DTD fetched from the network
        (PARAMETER_ENTITY, "XML_UNSAFE"),
        (b"<!DOCTYPE x><x/>", "XML_UNSAFE"),  # any DOCTYPE at all
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "XML_MALFORMED"),  # not XML
        (b"", "XML_MALFORMED"),
        (DCC_HEAD, "XML_MALFORMED"),  # truncated
        (b"<a>" * 100_000 + b"</a>" * 100_000, "XML_MALFORMED"),  # deeper than MAX_XML_DEPTH
        (b"<a>" * 257 + b"</a>" * 257, "XML_MALFORMED"),
        (('<?xml version="1.0" encoding="UTF-7"?>' + VACUUM.decode()).encode("utf-7"), "XML_MALFORMED"),
        (b'<?xml version="1.0" encoding="x-unknown"?><x/>', "XML_MALFORMED"),
        (b"<certificate/>", "DCC_WRONG_ROOT"),
        (b'<dcc:item xmlns:dcc="https://ptb.de/dcc"/>', "DCC_WRONG_ROOT"),  # DCC namespace, wrong element
        (VACUUM.replace(b'xmlns:dcc="https://ptb.de/dcc"', b'xmlns:dcc="https://ptb.de/dcc2"'), "DCC_WRONG_ROOT"),
        (VACUUM.replace(b'schemaVersion="3.1.1"', b'schemaVersion="2.4.0"'), "DCC_SCHEMA_UNSUPPORTED"),
        (VACUUM.replace(b'schemaVersion="3.1.1"', b""), "DCC_SCHEMA_UNSUPPORTED"),
        (VACUUM.replace(b"<si:value>296.719</si:value>", b"<si:value>about 297</si:value>"), "DCC_INVALID"),
        (VACUUM.replace(b"<dcc:uniqueIdentifier>75999PTB20</dcc:uniqueIdentifier>", b""), "DCC_INVALID"),
        (VACUUM.replace(b"<dcc:countryCode>DE</dcc:countryCode>", b"<dcc:countryCode>de</dcc:countryCode>", 1),
         "DCC_INVALID"),
    ],
)  # fmt: skip
def test_refused_inputs(data: bytes, code: str) -> None:
    with pytest.raises(DccError) as e:
        import_dcc(data, DccOverrides(issue_date=dt.date(2021, 1, 1), category_code="1", lab_code="L"))
    assert e.value.code == code


def test_schema_errors_name_the_place() -> None:
    bad = VACUUM.replace(b"<si:value>296.719</si:value>", b"<si:value>about 297</si:value>")
    with pytest.raises(DccError) as e:
        validate_dcc(bad)
    assert e.value.errors and all(x.rule == "xsd" for x in e.value.errors)
    assert any(x.field.endswith(("si:value", "{https://ptb.de/si}value")) for x in e.value.errors)


def test_size_limit() -> None:
    with pytest.raises(DccError) as e:
        parse_dcc(VACUUM, max_bytes=len(VACUUM) - 1)
    assert e.value.code == "DCC_TOO_LARGE"
    padded = VACUUM + b" " * (8 * 1024 * 1024)  # over the default limit, refused before any parsing
    with pytest.raises(DccError) as e:
        import_dcc(padded)
    assert e.value.code == "DCC_TOO_LARGE"


def test_schemas_load_from_the_package_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation works with every network path closed: the XSDs and D-SI come from the package."""
    import urllib.request

    from tracecert.certificate import dcc

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    dcc.dcc_schema.cache_clear()
    for name, version in EXAMPLES.items():
        assert validate_dcc(_example(name)) == version
    assert Path(dcc.__file__).parents[1].joinpath("schemas", "dcc", "si-2.1.0.xsd").is_file()


def test_unknown_stated_kind_is_refused() -> None:
    exported = export_dcc(record_from_json(calibration_json()))
    forged = exported.replace(b'<dcc:content lang="zh">CALIBRATION</dcc:content>', b"<dcc:content>PAPER</dcc:content>")
    assert forged != exported
    with pytest.raises(DccError) as e:
        import_dcc(forged)
    assert e.value.code == "DCC_INVALID"


def test_every_version_read_has_a_mapping() -> None:
    """A DCC version added to the bundled schemas is not read until a mapping for it is named in reading.py."""
    from tracecert.certificate.dcc.reading import MAPPINGS
    from tracecert.certificate.dcc.schema import SUPPORTED_SCHEMA_VERSIONS

    assert set(MAPPINGS) == set(SUPPORTED_SCHEMA_VERSIONS)
