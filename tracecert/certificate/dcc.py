"""PTB Digital Calibration Certificate (DCC) XML: safe parsing, XSD validation (3.0.0, 3.1.1, 3.1.2 from the
bundled schemas, never fetched), import into a :class:`CertificateRecord`, and export to DCC 3.1.2.

The mapping is documented in ``docs/bundle.md`` ("DCC import and export"). Data the record needs but a DCC
does not carry (issue date, category code, lab id...) comes from :class:`DccOverrides` or raises
:class:`DccIncomplete` naming the field; nothing is made up. Every choice the import makes (a person's role, a
quantity skipped) is reported in :attr:`DccImport.notes`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import defusedxml.common
import defusedxml.ElementTree
import xmlschema
from lxml import etree

from tracecert import __version__
from tracecert.certificate.canonical import document_digest, from_hex, lab_id, to_hex
from tracecert.certificate.errors import (
    DccIncomplete,
    DccInvalid,
    DccSchemaUnsupported,
    DccTooLarge,
    DccWrongRoot,
    FieldError,
    MalformedValue,
    XmlMalformed,
    XmlUnsafe,
)
from tracecert.certificate.model import CertificateRecord, Kind, Role, record_from_json

__all__ = [
    "DCC_MEDIA_TYPE",
    "DCC_NS",
    "DEFAULT_MAX_BYTES",
    "EXPORT_SCHEMA_VERSION",
    "MAX_XML_DEPTH",
    "SI_NS",
    "SUPPORTED_SCHEMA_VERSIONS",
    "TRACECERT_DIGEST_PROCEDURE",
    "DccImport",
    "DccOverrides",
    "dcc_schema",
    "export_dcc",
    "import_dcc",
    "parse_dcc",
    "validate_dcc",
]

DCC_NS = "https://ptb.de/dcc"
SI_NS = "https://ptb.de/si"
SUPPORTED_SCHEMA_VERSIONS = ("3.0.0", "3.1.1", "3.1.2")
EXPORT_SCHEMA_VERSION = "3.1.2"
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_XML_DEPTH = 256
"""libxml2's element depth bound without ``huge_tree`` (a PTB DCC nests about 15 deep); deeper XML is refused."""
DCC_MEDIA_TYPE = "application/xml"
TRACECERT_DIGEST_PROCEDURE = "tracecert-certificate-digest/v1"
"""``hashType/procedure`` marking ``value`` as a TraceCert certificate digest (standards used, replaces)."""

_NS = {"dcc": DCC_NS, "si": SI_NS}
_D = f"{{{DCC_NS}}}"
_S = f"{{{SI_NS}}}"
_ROOT = _D + "digitalCalibrationCertificate"
_MAX_XSD_ERRORS = 20
_ROLE_WORDS = {
    "performer": Role.PERFORMER,
    "检定员": Role.PERFORMER,
    "校准员": Role.PERFORMER,
    "检测员": Role.PERFORMER,
    "checker": Role.CHECKER,
    "核验员": Role.CHECKER,
    "approver": Role.APPROVER,
    "批准人": Role.APPROVER,
}


# --- parsing and validation ---------------------------------------------------------------------------------


@functools.cache
def dcc_schema(version: str) -> xmlschema.XMLSchema:
    """Return the XSD of a supported DCC version, loaded from the package; ``https://ptb.de/si`` resolves to
    the bundled D-SI 2.1.0 and nothing is ever fetched (``allow="local"``). Cached per version.

    Raises:
        DccSchemaUnsupported: ``version`` is not one of :data:`SUPPORTED_SCHEMA_VERSIONS`.
    """
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise DccSchemaUnsupported(_unsupported(version))
    folder = resources.files("tracecert.certificate.schemas.dcc")
    return xmlschema.XMLSchema(
        str(folder.joinpath(f"dcc-{version}.xsd")),
        locations={SI_NS: str(folder.joinpath("si-2.1.0.xsd"))},
        allow="local",
        defuse="always",
    )


def _unsupported(version: str | None) -> str:
    return f"DCC schemaVersion {version!r} is not supported (supported: {', '.join(SUPPORTED_SCHEMA_VERSIONS)})"


def _hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_dcc(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[etree._ElementTree, str]:
    """Parse DCC XML safely and return ``(tree, schemaVersion)``; the schema itself is not checked here.

    Refused before any XML processing: inputs over ``max_bytes``. Refused by a first pass (defusedxml):
    any DOCTYPE, entity declaration or external reference (expat builds the tree without recursion). Then lxml
    parses without entity resolution, network or huge-tree support, which bounds the depth at
    :data:`MAX_XML_DEPTH` elements before the schema validator (recursive) sees the tree.

    Raises:
        DccTooLarge: more than ``max_bytes``.
        XmlUnsafe: DOCTYPE, ENTITY declarations, entity references or external references.
        XmlMalformed: not well-formed XML.
        DccWrongRoot: the root element is not a DCC.
        DccSchemaUnsupported: no or an unsupported ``schemaVersion``.
    """
    if len(data) > max_bytes:
        raise DccTooLarge(f"document is {len(data)} bytes; the limit is {max_bytes}")
    try:
        defusedxml.ElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.common.DefusedXmlException as e:
        raise XmlUnsafe(f"refused unsafe XML construct: {type(e).__name__}") from e
    except defusedxml.ElementTree.ParseError as e:
        raise XmlMalformed(f"not well-formed XML: {e}") from e
    except (ValueError, LookupError) as e:  # UTF-7 and other multi-byte or unknown declared encodings
        raise XmlMalformed(f"XML in an unsupported encoding (use UTF-8): {e}") from e
    try:
        root = etree.fromstring(data, parser=_hardened_parser())
    except etree.XMLSyntaxError as e:
        raise XmlMalformed(f"not well-formed XML: {e}") from e
    except (ValueError, LookupError) as e:
        raise XmlMalformed(f"XML in an unsupported encoding (use UTF-8): {e}") from e
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:  # pragma: no cover - defusedxml caught it
        raise XmlUnsafe("DOCTYPE declarations are refused")
    if root.tag != _ROOT:
        raise DccWrongRoot(f"root element is {root.tag!r}, not {_ROOT!r}")
    version = root.get("schemaVersion")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise DccSchemaUnsupported(_unsupported(version))
    return tree, version


def validate_dcc(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Parse (see :func:`parse_dcc`) and validate DCC XML against the XSD of its declared version; return it.

    Raises:
        DccInvalid: XSD violations, listed in ``errors`` (``field`` = XPath, ``rule`` = ``xsd``).
        DccTooLarge, XmlUnsafe, XmlMalformed, DccWrongRoot, DccSchemaUnsupported: see :func:`parse_dcc`.
    """
    tree, version = parse_dcc(data, max_bytes=max_bytes)
    _validate_tree(tree, version)
    return version


def _validate_tree(tree: etree._ElementTree, version: str) -> None:
    errors: list[FieldError] = []
    for err in dcc_schema(version).iter_errors(tree, use_location_hints=False):
        errors.append(FieldError(err.path or "/", "xsd", err.reason or str(err.message)))
        if len(errors) >= _MAX_XSD_ERRORS:
            break
    if errors:
        raise DccInvalid(f"document does not validate against DCC {version}", errors)


# --- import -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DccOverrides:
    """Values that a DCC does not carry (or that the caller wants to set), applied on import.

    Each ``None`` means "take it from the DCC, or fail with :class:`DccIncomplete` if the record needs it".
    ``languages`` orders the preferred ``lang`` of multilingual DCC text.
    """

    kind: Kind | None = None
    certificate_number: str | None = None
    issue_date: dt.date | None = None
    valid_until: dt.date | None = None
    category_code: str | None = None
    item_name: str | None = None
    serial_number: str | None = None
    lab_code: str | None = None
    lab_id: str | None = None
    #: The issuing lab's name as registered on chain, when the DCC writes it otherwise (a record names its lab as
    #: registered: verifier check LAB_NAME).
    lab_name: str | None = None
    authorization_number: str | None = None
    accreditation_number: str | None = None
    customer_usci: str | None = None
    mandatory_verification: bool | None = None
    method_reference: str | None = None
    languages: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True)
class DccImport:
    """The outcome of :func:`import_dcc`: the record, the DCC's schema version, the SHA-256 of the XML bytes,
    and notes on every mapping choice or skipped part."""

    record: CertificateRecord
    schema_version: str
    document_sha256: bytes
    notes: tuple[str, ...] = field(default=())


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


class _Reader:
    """Small helpers over a parsed DCC, carrying the language preference and the notes."""

    def __init__(self, languages: Sequence[str], mandatory: Sequence[str]) -> None:
        self.languages = [*languages, *mandatory]
        self.notes: list[str] = []

    def text(self, el: etree._Element | None) -> str | None:
        """Pick one ``dcc:content`` of a textType/richContentType element by language preference."""
        if el is None:
            return None
        contents = [(c.get("lang"), _clean(c.text)) for c in el.findall("dcc:content", _NS)]
        contents = [(lang, t) for lang, t in contents if t]
        for want in self.languages:
            for lang, t in contents:
                if lang == want:
                    return t
        for lang, t in contents:
            if lang is None:
                return t
        return contents[0][1] if contents else None


def _find_text(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, _NS)
    return _clean(found.text) if found is not None else None


def _ref_types(el: etree._Element) -> set[str]:
    return set((el.get("refType") or "").split())


def _location(el: etree._Element | None, reader: _Reader) -> tuple[str | None, str | None]:
    """Return (address, countryCode) of a dcc:location."""
    if el is None:
        return None, None
    parts: list[str] = []
    street = " ".join(filter(None, [_find_text(el, "dcc:street"), _find_text(el, "dcc:streetNo")]))
    city = " ".join(filter(None, [_find_text(el, "dcc:postCode"), _find_text(el, "dcc:city")]))
    further = [reader.text(f) for f in el.findall("dcc:further", _NS)]
    parts = [p for p in [*further, street, city, _find_text(el, "dcc:state")] if p]
    return (", ".join(parts) or None), _find_text(el, "dcc:countryCode")


def _split_list(text: str | None) -> list[str]:
    return (text or "").split()


def _broadcast(values: list[str], n: int) -> list[str | None]:
    if len(values) == n:
        return list(values)
    if len(values) == 1:
        return [values[0]] * n
    return [None] * n


def _rows_of(q: etree._Element, reader: _Reader, where: str) -> list[dict[str, str]] | None:
    """Expand the D-SI content of a dcc:quantity into rows {value, unit, U?, k?, p?, distribution?}."""
    real = q.find("si:real", _NS)
    if real is not None:
        return [_real_row(real)]
    xml_list = q.find("si:realListXMLList", _NS)
    if xml_list is not None:
        return _xml_list_rows(xml_list)
    hybrid = q.find("si:hybrid", _NS)
    if hybrid is not None:  # one quantity in several units: the first child is taken (D-SI puts SI first)
        first = next(iter(hybrid), None)
        if first is not None and first.tag == _S + "real":
            return [_real_row(first)]
        if first is not None and first.tag == _S + "realListXMLList":
            return _xml_list_rows(first)
    kinds = [etree.QName(c).localname for c in q if etree.QName(c).namespace == SI_NS]
    form = ", ".join(kinds) or ("noQuantity (text)" if q.find("dcc:noQuantity", _NS) is not None else "empty")
    reader.notes.append(f"{where}: skipped a quantity in a form that is not mapped: {form}")
    return None


def _real_row(real: etree._Element) -> dict[str, str]:
    row = {"value": _find_text(real, "si:value") or "", "unit": _find_text(real, "si:unit") or ""}
    unc = real.find("si:expandedUnc", _NS)
    if unc is not None:
        for key, tag in (
            ("U", "uncertainty"),
            ("k", "coverageFactor"),
            ("p", "coverageProbability"),
            ("distribution", "distribution"),
        ):
            value = _find_text(unc, f"si:{tag}")
            if value is not None:
                row[key] = value
    return row


def _xml_list_rows(el: etree._Element) -> list[dict[str, str]]:
    values = _split_list(_find_text(el, "si:valueXMLList"))
    n = len(values)
    columns: dict[str, list[str | None]] = {"unit": _broadcast(_split_list(_find_text(el, "si:unitXMLList")), n)}
    unc = el.find("si:expandedUncXMLList", _NS)
    if unc is not None:
        for key, tag in (
            ("U", "uncertaintyXMLList"),
            ("k", "coverageFactorXMLList"),
            ("p", "coverageProbabilityXMLList"),
            ("distribution", "distributionXMLList"),
        ):
            columns[key] = _broadcast(_split_list(_find_text(unc, f"si:{tag}")), n)
    rows = []
    for i, v in enumerate(values):
        row = {"value": v}
        row.update({k: col[i] for k, col in columns.items() if col[i] is not None})  # type: ignore[misc]
        rows.append(row)
    return rows


def _tracecert_uncertainty(q: etree._Element) -> dict[str, str]:
    """U and k written by :func:`export_dcc` in measurementMetaData when p was not stated."""
    out: dict[str, str] = {}
    for meta in q.findall("dcc:measurementMetaData/dcc:metaData", _NS):
        if "tracecert_uncertainty" in _ref_types(meta):
            for mq in meta.findall("dcc:data/dcc:quantity", _NS):
                real = mq.find("si:real", _NS)
                if real is None:
                    continue
                if "tracecert_U" in _ref_types(mq):
                    out["U"] = _find_text(real, "si:value") or ""
                elif "tracecert_k" in _ref_types(mq):
                    out["k"] = _find_text(real, "si:value") or ""
    return out


def _quantity_json(row: dict[str, str]) -> dict[str, str]:
    return {"value": row["value"], "unit": row["unit"]}


def _walk_results(
    container: etree._Element,
    names: list[str],
    reader: _Reader,
    keep_without_u: bool,
    out: list[dict[str, Any]],
) -> None:
    quantities = container.findall("dcc:quantity", _NS)
    expanded: list[tuple[etree._Element, list[dict[str, str]]]] = []
    where = " / ".join(names) or "results"
    for q in quantities:
        rows = _rows_of(q, reader, where)
        if rows:
            extra = _tracecert_uncertainty(q)
            if extra:
                for row in rows:
                    row.update(extra)
            expanded.append((q, rows))
    reference = next((r for q, r in expanded if _ref_types(q) & {"basic_referenceValue"}), None)
    indicated = next((r for q, r in expanded if _ref_types(q) & {"basic_measuredValue", "basic_indicatedValue"}), None)
    for q, rows in expanded:
        refs = _ref_types(q)
        if rows is reference or rows is indicated:
            continue
        has_u = all("U" in row for row in rows)
        if not has_u and not keep_without_u:
            reader.notes.append(f"{where}: skipped {len(rows)} value(s) without expanded uncertainty")
            continue
        label = " / ".join([*names, *filter(None, [reader.text(q.find("dcc:name", _NS))])])
        adjustment = next((a for a in ("BEFORE", "AFTER") if f"tracecert_adjustment_{a}" in refs), None)
        for i, row in enumerate(rows):
            result: dict[str, Any] = {
                "quantity": label or "result",
                "value": row["value"],
                "unit": row["unit"],
            }
            for key, name in (
                ("U", "expanded_uncertainty"),
                ("k", "coverage_factor"),
                ("p", "coverage_probability"),
                ("distribution", "distribution"),
            ):
                if key in row:
                    result[name] = row[key]
            if reference is not None and len(reference) == len(rows):
                result["reference_value"] = _quantity_json(reference[i])
            if indicated is not None and len(indicated) == len(rows):
                result["indicated_value"] = _quantity_json(indicated[i])
            if adjustment:
                result["adjustment"] = adjustment
            out.append(result)
    for sub in container.findall("dcc:list", _NS):
        _walk_results(
            sub,
            [*names, *filter(None, [reader.text(sub.find("dcc:name", _NS))])],
            reader,
            keep_without_u,
            out,
        )


def _walk_conditions(container: etree._Element, names: list[str], reader: _Reader, out: list[dict[str, Any]]) -> None:
    for q in container.findall("dcc:quantity", _NS):
        rows = _rows_of(q, reader, " / ".join(names)) or []
        label = " / ".join([*names, *filter(None, [reader.text(q.find("dcc:name", _NS))])])
        for row in rows:
            cond: dict[str, Any] = {"name": label or "condition", "value": row["value"], "unit": row["unit"]}
            extra = _tracecert_uncertainty(q)
            row = {**row, **extra}
            if "U" in row and "k" in row:
                cond["expanded_uncertainty"] = row["U"]
                cond["coverage_factor"] = row["k"]
            out.append(cond)
    for sub in container.findall("dcc:list", _NS):
        _walk_conditions(sub, [*names, *filter(None, [reader.text(sub.find("dcc:name", _NS))])], reader, out)


def _identifications(el: etree._Element) -> dict[str, str]:
    """issuer -> first value."""
    out: dict[str, str] = {}
    for ident in el.findall("dcc:identifications/dcc:identification", _NS):
        issuer, value = _find_text(ident, "dcc:issuer"), _find_text(ident, "dcc:value")
        if issuer and value and issuer not in out:
            out[issuer] = value
    return out


def _statements(admin: etree._Element) -> list[etree._Element]:
    return admin.findall("dcc:statements/dcc:statement", _NS)


def _statement(admin: etree._Element, ref_type: str) -> etree._Element | None:
    return next((s for s in _statements(admin) if ref_type in _ref_types(s)), None)


def _statement_text(admin: etree._Element, ref_type: str, reader: _Reader) -> str | None:
    s = _statement(admin, ref_type)
    return reader.text(s.find("dcc:declaration", _NS)) if s is not None else None


def _statement_date(admin: etree._Element, ref_type: str) -> str | None:
    s = _statement(admin, ref_type)
    return _find_text(s, "dcc:date") if s is not None else None


def _tracecert_hash(el: etree._Element | None, reader: _Reader, where: str) -> tuple[str | None, str | None]:
    """(referralID, certificate digest) of a dcc:hashType element."""
    if el is None:
        return None, None
    number = _find_text(el, "dcc:referralID")
    procedure = _find_text(el, "dcc:procedure")
    value = _find_text(el, "dcc:value")
    if procedure == TRACECERT_DIGEST_PROCEDURE and value:
        try:
            return number, to_hex(from_hex(value if value.startswith("0x") else "0x" + value))
        except MalformedValue:
            reader.notes.append(f"{where}: certificate digest {value!r} is not 32 bytes of hex; not used")
            return number, None
    if value:
        reader.notes.append(f"{where}: hash with procedure {procedure!r} is not a TraceCert digest; not used")
    return number, None


def import_dcc(data: bytes, overrides: DccOverrides | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> DccImport:
    """Parse, validate and map a DCC (3.0.0, 3.1.1, 3.1.2) into a certificate record.

    The record's ``original_document`` binds the SHA-256 of ``data``. Kind is CALIBRATION unless overridden
    (or stated by a DCC that :func:`export_dcc` wrote).

    Raises:
        DccTooLarge, XmlUnsafe, XmlMalformed, DccWrongRoot, DccSchemaUnsupported: see :func:`parse_dcc`.
        DccInvalid: the XML does not validate against its declared schema version.
        DccIncomplete: the record needs a value the DCC does not hold and ``overrides`` did not give;
            ``errors`` names each field and the override to use.
        RecordInvalid: the mapped record breaks a rule (e.g. issue date before the performance end).
    """
    ov = overrides or DccOverrides()
    tree, version = parse_dcc(data, max_bytes=max_bytes)
    _validate_tree(tree, version)
    root = tree.getroot()
    admin = root.find("dcc:administrativeData", _NS)
    assert admin is not None  # guaranteed by the XSD
    core = admin.find("dcc:coreData", _NS)
    reader = _Reader(
        ov.languages,
        [c.text or "" for c in core.findall("dcc:mandatoryLangCodeISO639_1", _NS)] if core is not None else [],
    )
    missing: list[FieldError] = []

    def need(field_name: str, value: Any, hint: str) -> Any:
        if value is None:
            missing.append(FieldError(field_name, "missing_in_dcc", f"not in the DCC; supply it with {hint}"))
        return value

    stated_kind = _statement_text(admin, "tracecert_kind", reader)
    if ov.kind is None and stated_kind is not None and stated_kind not in Kind.__members__:
        raise DccInvalid(
            "the tracecert_kind statement names no TraceCert kind",
            [FieldError("statement[@refType='tracecert_kind']", "unsupported_value", f"{stated_kind!r}")],
        )
    kind = ov.kind or Kind(stated_kind or Kind.CALIBRATION.value)

    # dates
    dates: dict[str, Any] = {
        "receipt_date": _find_text(core, "dcc:receiptDate"),
        "performance_begin": _find_text(core, "dcc:beginPerformanceDate"),
        "performance_end": _find_text(core, "dcc:endPerformanceDate"),
        "issue_date": need(
            "dates.issue_date",
            ov.issue_date.isoformat() if ov.issue_date else _statement_date(admin, "tracecert_issueDate"),
            "--issue-date",
        ),
        "valid_until": ov.valid_until.isoformat() if ov.valid_until else _statement_date(admin, "basic_recalibration"),
    }

    # item(s)
    items_el = admin.find("dcc:items", _NS)
    assert items_el is not None
    item_els = items_el.findall("dcc:item", _NS)
    category = ov.category_code
    for el in [*item_els, items_el]:
        category = category or _find_text(el, "dcc:equipmentClass/dcc:classID")
    item: dict[str, Any] = {"category_code": need("item.category_code", category, "--category-code")}
    if len(item_els) == 1:
        el = item_els[0]
        ids = _identifications(el)
        item.update(
            name=ov.item_name or reader.text(el.find("dcc:name", _NS)),
            manufacturer=reader.text(el.find("dcc:manufacturer/dcc:name", _NS)),
            model=_find_text(el, "dcc:model"),
            serial_number=ov.serial_number or ids.get("manufacturer"),
            asset_number=ids.get("customer") or ids.get("owner"),
        )
        if item["serial_number"] is None and item["asset_number"] is None:
            need("item.serial_number", None, "--serial-number")
    else:
        item["name"] = need("item.name", ov.item_name or reader.text(items_el.find("dcc:name", _NS)), "--item-name")
        set_ids = _identifications(items_el)
        item["serial_number"] = ov.serial_number or set_ids.get("manufacturer")
        item["asset_number"] = set_ids.get("customer") or set_ids.get("owner")
        components = []
        for el in item_els:
            ids = _identifications(el)
            components.append(
                {
                    "name": reader.text(el.find("dcc:name", _NS)),
                    "serial_number": ids.get("manufacturer"),
                    "asset_number": ids.get("customer") or ids.get("owner"),
                    "manufacturer": reader.text(el.find("dcc:manufacturer/dcc:name", _NS)),
                    "model": _find_text(el, "dcc:model"),
                }
            )
        item["components"] = components
        reader.notes.append(f"item: a set of {len(item_els)} pieces mapped to item.components")

    # lab
    lab_el = admin.find("dcc:calibrationLaboratory", _NS)
    assert lab_el is not None
    lab_code = ov.lab_code or _find_text(lab_el, "dcc:calibrationLaboratoryCode")
    lab_hex = ov.lab_id or _statement_text(admin, "tracecert_labId", reader)
    if lab_hex is None and lab_code is not None:
        lab_hex = to_hex(lab_id(lab_code))
    address, country = _location(lab_el.find("dcc:contact/dcc:location", _NS), reader)
    lab = {
        "lab_id": need("lab.lab_id", lab_hex, "--lab-code or --lab-id"),
        "code": lab_code,
        "name": ov.lab_name or reader.text(lab_el.find("dcc:contact/dcc:name", _NS)),
        "authorization_number": ov.authorization_number
        or _statement_text(admin, "tracecert_authorizationNumber", reader),
        "accreditation_number": ov.accreditation_number
        or _statement_text(admin, "tracecert_accreditationNumber", reader),
        "address": address,
        "country_code": country,
    }

    # customer
    cust_el = admin.find("dcc:customer", _NS)
    cust_address, _ = _location(cust_el.find("dcc:location", _NS) if cust_el is not None else None, reader)
    mandatory = ov.mandatory_verification
    mv = _statement(admin, "tracecert_mandatoryVerification")
    if mandatory is None and mv is not None and _find_text(mv, "dcc:valid") is not None:
        mandatory = _find_text(mv, "dcc:valid") in ("true", "1")
    customer = {
        "name": reader.text(cust_el.find("dcc:name", _NS)) if cust_el is not None else None,
        "usci": ov.customer_usci or _statement_text(admin, "tracecert_customerUsci", reader),
        "address": cust_address,
        "mandatory_verification": mandatory,
        "use": _statement_text(admin, "tracecert_customerUse", reader),
    }

    # persons
    persons = []
    for rp in admin.findall("dcc:respPersons/dcc:respPerson", _NS):
        name = reader.text(rp.find("dcc:person/dcc:name", _NS))
        role_text = (_find_text(rp, "dcc:role") or "").strip()
        role = _ROLE_WORDS.get(role_text.lower()) or (Role(role_text) if role_text in Role.__members__ else None)
        if role is None:
            role = Role.APPROVER if _find_text(rp, "dcc:mainSigner") in ("true", "1") else Role.PERFORMER
            reader.notes.append(
                f"person {name!r}: no TraceCert role in the DCC; mapped to {role.value} "
                "(mainSigner -> APPROVER, otherwise PERFORMER)"
            )
        person_id = next(
            (reader.text(d) for d in rp.findall("dcc:description", _NS) if "tracecert_personId" in _ref_types(d)),
            None,
        )
        persons.append({"name": name, "role": role.value, "id": person_id})

    # method, results, conditions, standards (from the measurement results)
    mrs = root.findall("dcc:measurementResults/dcc:measurementResult", _NS)
    methods = [m for mr in mrs for m in mr.findall("dcc:usedMethods/dcc:usedMethod", _NS)]
    main = next(
        (m for m in methods if not any("uncertainty" in t.lower() for t in _ref_types(m))),
        methods[0] if methods else None,
    )
    method: dict[str, Any] = {}
    if main is not None:
        method = {
            "reference": _clean(main.findtext("dcc:norm", namespaces=_NS)),
            "title": reader.text(main.find("dcc:name", _NS)),
            "clause": _clean(main.findtext("dcc:reference", namespaces=_NS)),
        }
        if len(methods) > 1:
            reader.notes.append(f"method: {len(methods)} usedMethods; the first non-uncertainty one is mapped")
    if ov.method_reference:
        method["reference"] = ov.method_reference
    if not method:
        need("method.reference", None, "--method-reference")

    results: list[dict[str, Any]] = []
    conditions: list[dict[str, Any]] = []
    keep_without_u = kind is not Kind.CALIBRATION
    for mr in mrs:
        for res in mr.findall("dcc:results/dcc:result", _NS):
            data_el = res.find("dcc:data", _NS)
            if data_el is not None:
                _walk_results(
                    data_el,
                    list(filter(None, [reader.text(res.find("dcc:name", _NS))])),
                    reader,
                    keep_without_u,
                    results,
                )
        for cond in mr.findall("dcc:influenceConditions/dcc:influenceCondition", _NS):
            data_el = cond.find("dcc:data", _NS)
            if data_el is not None:
                _walk_conditions(
                    data_el, list(filter(None, [reader.text(cond.find("dcc:name", _NS))])), reader, conditions
                )

    standards: list[dict[str, Any]] = []
    seen: set[tuple[str | None, str | None]] = set()
    for mr in mrs:
        for eq in mr.iter(_D + "measuringEquipment"):
            name = reader.text(eq.find("dcc:name", _NS))
            ids = _identifications(eq)
            serial = ids.get("manufacturer") or next(iter(ids.values()), None)
            if (name, serial) in seen:
                continue
            seen.add((name, serial))
            number, digest = _tracecert_hash(eq.find("dcc:certificate", _NS), reader, f"standard {name!r}")
            standards.append(
                {
                    "name": name,
                    "serial_number": serial,
                    "manufacturer": reader.text(eq.find("dcc:manufacturer/dcc:name", _NS)),
                    "model": _find_text(eq, "dcc:model"),
                    "certificate_number": number,
                    "certificate_digest": digest,
                }
            )
            if number is None:
                reader.notes.append(f"standard {name!r}: the DCC gives no certificate reference")

    # statements
    conclusion = decision_rule = traceability = None
    for s in _statements(admin):
        conformity = _find_text(s, "dcc:conformity")
        if conformity is not None:
            if conformity in ("pass", "fail"):
                conclusion = "PASS" if conformity == "pass" else "FAIL"
                decision_rule = reader.text(s.find("dcc:declaration", _NS))
            else:
                reader.notes.append(f"conformity {conformity!r} has no TraceCert conclusion; not mapped")
        if _find_text(s, "dcc:traceable") in ("true", "1") and traceability is None:
            traceability = reader.text(s.find("dcc:declaration", _NS)) or _find_text(s, "dcc:convention")

    prev = core.find("dcc:previousReport", _NS) if core is not None else None
    replaces = None
    if prev is not None:
        number, digest = _tracecert_hash(prev, reader, "previousReport")
        if number and digest:
            replaces = {"certificate_number": number, "certificate_digest": digest}

    if missing:
        raise DccIncomplete("the DCC lacks data the certificate record requires", missing)

    doc_hash = document_digest(data)
    record_json: dict[str, Any] = {
        "schema_version": "tracecert/1",
        "kind": kind.value,
        "certificate_number": ov.certificate_number or _find_text(core, "dcc:uniqueIdentifier"),
        "dates": dates,
        "item": item,
        "customer": customer,
        "lab": lab,
        "persons": persons,
        "method": method,
        "conditions": conditions,
        "results": results,
        "standards_used": standards,
        "conclusion": conclusion,
        "decision_rule": decision_rule,
        "traceability_statement": traceability,
        "replaces": replaces,
        "original_document": {"media_type": DCC_MEDIA_TYPE, "sha256": to_hex(doc_hash)},
        "remarks": _statement_text(admin, "tracecert_remarks", reader),
    }
    record = record_from_json(_drop_none(record_json))
    return DccImport(record=record, schema_version=version, document_sha256=doc_hash, notes=tuple(reader.notes))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


# --- export -------------------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def el(self, parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
        prefix, local = tag.split(":")
        child = etree.SubElement(parent, f"{{{_NS[prefix]}}}{local}", attrs)
        if text is not None:
            child.text = text
        return child

    def text(self, parent: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
        holder = self.el(parent, tag, **attrs)
        self.el(holder, "dcc:content", text, lang=self.lang)
        return holder

    def si_real(
        self,
        parent: etree._Element,
        value: str,
        unit: str,
        u: str | None = None,
        k: str | None = None,
        p: str | None = None,
        distribution: str | None = None,
    ) -> None:
        real = self.el(parent, "si:real")
        self.el(real, "si:value", value)
        self.el(real, "si:unit", unit)
        if u is not None and k is not None and p is not None:
            unc = self.el(real, "si:expandedUnc")
            self.el(unc, "si:uncertainty", u)
            self.el(unc, "si:coverageFactor", k)
            self.el(unc, "si:coverageProbability", p)
            if distribution is not None:
                self.el(unc, "si:distribution", distribution)

    def uncertainty_meta(self, quantity: etree._Element, unit: str, u: str, k: str | None) -> None:
        """U (and k) without p: D-SI's expandedUnc needs p, so they go to measurementMetaData instead."""
        meta = self.el(self.el(quantity, "dcc:measurementMetaData"), "dcc:metaData", refType="tracecert_uncertainty")
        self.text(meta, "dcc:declaration", "expanded uncertainty; coverage probability not stated")
        data = self.el(meta, "dcc:data")
        self.si_real(self.el(data, "dcc:quantity", refType="tracecert_U"), u, unit)
        if k is not None:
            self.si_real(self.el(data, "dcc:quantity", refType="tracecert_k"), k, "\\one")

    def quantity(
        self,
        parent: etree._Element,
        value: str,
        unit: str,
        u: str | None,
        k: str | None,
        p: str | None,
        distribution: str | None = None,
        **attrs: str,
    ) -> etree._Element:
        q = self.el(parent, "dcc:quantity", **attrs)
        self.si_real(q, value, unit, u, k, p, distribution)
        if u is not None and (k is None or p is None):
            self.uncertainty_meta(q, unit, u, k)
        return q

    def statement(
        self,
        parent: etree._Element,
        ref_type: str,
        *,
        declaration: str | None = None,
        traceable: bool | None = None,
        valid: bool | None = None,
        date: dt.date | None = None,
        conformity: str | None = None,
    ) -> None:
        s = self.el(parent, "dcc:statement", refType=ref_type)
        if traceable is not None:
            self.el(s, "dcc:traceable", "true" if traceable else "false")
        if declaration is not None:
            self.text(s, "dcc:declaration", declaration)
        if valid is not None:
            self.el(s, "dcc:valid", "true" if valid else "false")
        if date is not None:
            self.el(s, "dcc:date", date.isoformat())
        if conformity is not None:
            self.el(s, "dcc:conformity", conformity)

    def contact(self, parent: etree._Element, tag: str, name: str, address: str | None, country: str | None) -> None:
        contact = self.el(parent, tag)
        self.text(contact, "dcc:name", name)
        self.el(contact, "dcc:eMail", "")
        location = self.el(contact, "dcc:location")
        if address is not None:
            self.text(location, "dcc:further", address)
        if country is not None:
            self.el(location, "dcc:countryCode", country)
        if address is None and country is None:
            self.el(location, "dcc:further")

    def equipment_class(self, parent: etree._Element, category_code: str) -> None:
        cls = self.el(parent, "dcc:equipmentClass")
        self.el(cls, "dcc:reference", "TraceCert instrument category")
        self.el(cls, "dcc:classID", category_code)

    def identifications(self, parent: etree._Element, serial: str | None, asset: str | None) -> None:
        """dcc:identifications needs one entry at least; an unnumbered piece is written as issuer "other"."""
        ids = self.el(parent, "dcc:identifications")
        pairs = [("manufacturer", serial, "serial number"), ("customer", asset, "asset number")]
        if serial is None and asset is None:
            pairs = [("other", "-", "no number")]
        for issuer, value, label in pairs:
            if value is not None:
                ident = self.el(ids, "dcc:identification")
                self.el(ident, "dcc:issuer", issuer)
                self.el(ident, "dcc:value", value)
                self.text(ident, "dcc:name", label)

    def hash(self, parent: etree._Element, tag: str, referral: str, number: str, digest: str) -> None:
        h = self.el(parent, tag)
        self.text(h, "dcc:referral", referral)
        self.el(h, "dcc:referralID", number)
        self.el(h, "dcc:procedure", TRACECERT_DIGEST_PROCEDURE)
        self.el(h, "dcc:value", digest)


def export_dcc(
    record: CertificateRecord,
    *,
    lang: str = "zh",
    country_code: str = "CN",
    performance_location: str = "laboratory",
) -> bytes:
    """Write a record as DCC 3.1.2 XML (UTF-8) and check it against the 3.1.2 XSD before returning it.

    ``lang`` tags all text; ``country_code`` is used when the lab has none. Fields with no DCC element are
    written as ``dcc:statement`` elements with ``tracecert_*`` refTypes, which :func:`import_dcc` reads back.
    Not carried: item accuracy class, MPE and measuring range; standards' validity, lab id, uncertainty, MPE.

    Raises:
        DccInvalid: the output does not validate (a bug; the errors name the XSD violations).
    """
    w = _Writer(lang)
    root = etree.Element(_ROOT, {"schemaVersion": EXPORT_SCHEMA_VERSION}, nsmap={"dcc": DCC_NS, "si": SI_NS})
    admin = w.el(root, "dcc:administrativeData")
    software = w.el(w.el(admin, "dcc:dccSoftware"), "dcc:software")
    w.text(software, "dcc:name", "TraceCert")
    w.el(software, "dcc:release", __version__)

    core = w.el(admin, "dcc:coreData")
    w.el(core, "dcc:countryCodeISO3166_1", record.lab.country_code or country_code)
    w.el(core, "dcc:usedLangCodeISO639_1", lang)
    w.el(core, "dcc:mandatoryLangCodeISO639_1", lang)
    w.el(core, "dcc:uniqueIdentifier", record.certificate_number)
    d = record.dates
    if d.receipt_date is not None:
        w.el(core, "dcc:receiptDate", d.receipt_date.isoformat())
    w.el(core, "dcc:beginPerformanceDate", d.performance_begin.isoformat())
    w.el(core, "dcc:endPerformanceDate", d.performance_end.isoformat())
    w.el(core, "dcc:performanceLocation", performance_location)
    if record.replaces is not None:
        w.hash(
            core,
            "dcc:previousReport",
            "replaced certificate",
            record.replaces.certificate_number,
            record.replaces.certificate_digest,
        )

    items = w.el(admin, "dcc:items")
    it = record.item
    if it.components:
        w.text(items, "dcc:name", it.name)
        w.equipment_class(items, it.category_code)
        if it.serial_number is not None or it.asset_number is not None:
            w.identifications(items, it.serial_number, it.asset_number)
        for piece in it.components:
            item = w.el(items, "dcc:item")
            w.text(item, "dcc:name", piece.name)
            w.text(w.el(item, "dcc:manufacturer"), "dcc:name", piece.manufacturer or "unknown")
            if piece.model is not None:
                w.el(item, "dcc:model", piece.model)
            w.identifications(item, piece.serial_number, piece.asset_number)
    else:
        item = w.el(items, "dcc:item")
        w.text(item, "dcc:name", it.name)
        w.equipment_class(item, it.category_code)
        w.text(w.el(item, "dcc:manufacturer"), "dcc:name", it.manufacturer or "unknown")
        if it.model is not None:
            w.el(item, "dcc:model", it.model)
        w.identifications(item, it.serial_number, it.asset_number)

    lab_el = w.el(admin, "dcc:calibrationLaboratory")
    if record.lab.code is not None:
        w.el(lab_el, "dcc:calibrationLaboratoryCode", record.lab.code)
    w.contact(lab_el, "dcc:contact", record.lab.name, record.lab.address, record.lab.country_code)

    persons = w.el(admin, "dcc:respPersons")
    for p in record.persons:
        rp = w.el(persons, "dcc:respPerson")
        w.text(w.el(rp, "dcc:person"), "dcc:name", p.name)
        if p.id is not None:
            w.text(rp, "dcc:description", p.id, refType="tracecert_personId")
        w.el(rp, "dcc:role", p.role.value)
        if p.role is Role.APPROVER:
            w.el(rp, "dcc:mainSigner", "true")

    w.contact(admin, "dcc:customer", record.customer.name, record.customer.address, None)

    statements = w.el(admin, "dcc:statements")
    w.statement(statements, "tracecert_kind", declaration=record.kind.value)
    w.statement(statements, "tracecert_issueDate", declaration="issue date", date=d.issue_date)
    if d.valid_until is not None:
        w.statement(statements, "basic_recalibration", declaration="valid until", date=d.valid_until)
    if record.lab.code is None:
        w.statement(statements, "tracecert_labId", declaration=record.lab.lab_id)
    for ref_type, value in (
        ("tracecert_authorizationNumber", record.lab.authorization_number),
        ("tracecert_accreditationNumber", record.lab.accreditation_number),
        ("tracecert_customerUsci", record.customer.usci),
        ("tracecert_customerUse", record.customer.use),
        ("tracecert_remarks", record.remarks),
    ):
        if value is not None:
            w.statement(statements, ref_type, declaration=value)
    if record.customer.mandatory_verification is not None:
        w.statement(
            statements,
            "tracecert_mandatoryVerification",
            declaration="mandatory verification",
            valid=record.customer.mandatory_verification,
        )
    if record.traceability_statement is not None:
        w.statement(statements, "basic_traceability", traceable=True, declaration=record.traceability_statement)
    if record.conclusion is not None:
        w.statement(
            statements,
            "basic_conformity",
            declaration=record.decision_rule,
            conformity="pass" if record.conclusion.value == "PASS" else "fail",
        )

    mr = w.el(w.el(root, "dcc:measurementResults"), "dcc:measurementResult")
    w.text(mr, "dcc:name", "results")
    method = w.el(w.el(mr, "dcc:usedMethods"), "dcc:usedMethod")
    w.text(method, "dcc:name", record.method.title or record.method.reference or "method")
    if record.method.reference is not None:
        w.el(method, "dcc:norm", record.method.reference)
    if record.method.clause is not None:
        w.el(method, "dcc:reference", record.method.clause)
    if record.standards_used:
        equipments = w.el(mr, "dcc:measuringEquipments")
        for s in record.standards_used:
            eq = w.el(equipments, "dcc:measuringEquipment", refType="basic_normalUsed")
            w.text(eq, "dcc:name", s.name)
            if s.certificate_number is not None and s.certificate_digest is not None:
                w.hash(
                    eq,
                    "dcc:certificate",
                    s.issuing_lab_name or "certificate of the standard",
                    s.certificate_number,
                    s.certificate_digest,
                )
            elif s.certificate_number is not None:
                w.text(eq, "dcc:description", f"certificate {s.certificate_number}")
            if s.manufacturer is not None:
                w.text(w.el(eq, "dcc:manufacturer"), "dcc:name", s.manufacturer)
            if s.model is not None:
                w.el(eq, "dcc:model", s.model)
            if s.serial_number is not None:
                ident = w.el(w.el(eq, "dcc:identifications"), "dcc:identification")
                w.el(ident, "dcc:issuer", "manufacturer")
                w.el(ident, "dcc:value", s.serial_number)
    if record.conditions:
        conds = w.el(mr, "dcc:influenceConditions")
        for c in record.conditions:
            cond = w.el(conds, "dcc:influenceCondition")
            w.text(cond, "dcc:name", c.name)
            w.quantity(w.el(cond, "dcc:data"), c.value, c.unit, c.expanded_uncertainty, c.coverage_factor, None)
    results = w.el(mr, "dcc:results")
    for r in record.results:
        res = w.el(results, "dcc:result")
        w.text(res, "dcc:name", r.quantity)
        data = w.el(res, "dcc:data")
        attrs = {"refType": f"tracecert_adjustment_{r.adjustment.value}"} if r.adjustment else {}
        w.quantity(
            data,
            r.value,
            r.unit,
            r.expanded_uncertainty,
            r.coverage_factor,
            r.coverage_probability,
            r.distribution,
            **attrs,
        )
        if r.reference_value is not None:
            w.quantity(
                data,
                r.reference_value.value,
                r.reference_value.unit,
                None,
                None,
                None,
                refType="basic_referenceValue",
            )
        if r.indicated_value is not None:
            w.quantity(
                data,
                r.indicated_value.value,
                r.indicated_value.unit,
                None,
                None,
                None,
                refType="basic_measuredValue",
            )

    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    _validate_tree(etree.fromstring(out, parser=_hardened_parser()).getroottree(), EXPORT_SCHEMA_VERSION)
    return out
