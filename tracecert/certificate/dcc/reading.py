"""DCC import: a parsed, schema-valid DCC mapped part by part (administrativeData, items, lab, persons, methods,
results, measuringEquipments, statements) into a :class:`CertificateRecord`, with one mapping per DCC version.

The mapping is documented in ``docs/bundle.md`` ("DCC import and export"). Data the record needs but a DCC
does not carry (issue date, category code, lab id...) comes from :class:`DccOverrides` or raises
:class:`DccIncomplete` naming the field; nothing is made up. Every choice the import makes (a person's role, a
quantity skipped) is reported in :attr:`DccImport.notes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from tracecert.certificate.canonical import document_digest, from_hex, lab_id, to_hex
from tracecert.certificate.dcc.quantities import read_conditions, read_results, xpath
from tracecert.certificate.dcc.schema import (
    DCC_MEDIA_TYPE,
    DCC_NS,
    DEFAULT_MAX_BYTES,
    DS_NS,
    NO_DIGEST_PROCEDURE,
    NS,
    TRACECERT_DIGEST_PROCEDURE,
    parse_dcc,
    validate_tree,
)
from tracecert.certificate.dcc.signature import SignatureReport, TrustStore, verify_dcc_signature
from tracecert.certificate.dcc.text import Reader, clean, find_text, ref_types, verbatim
from tracecert.certificate.errors import (
    DccIncomplete,
    DccInvalid,
    DccSignerUntrusted,
    FieldError,
    MalformedValue,
    RecordInvalid,
)
from tracecert.certificate.model import CertificateRecord, Kind, Role, record_from_json

__all__ = ["MAPPINGS", "DccImport", "DccOverrides", "import_dcc"]

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
    #: The digest of the certificate a substituting DCC replaces, when the DCC names it by number only.
    replaces_digest: str | None = None
    languages: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True)
class DccImport:
    """The outcome of :func:`import_dcc`: the record, the DCC's schema version, the SHA-256 of the XML bytes,
    notes on every mapping choice or skipped part, and the XML signature's report when the DCC is signed."""

    record: CertificateRecord
    schema_version: str
    document_sha256: bytes
    notes: tuple[str, ...] = field(default=())
    signature: SignatureReport | None = None


# --- the DCC being read -------------------------------------------------------------------------------------


@dataclass
class _Dcc:
    """One parsed, schema-valid DCC being read: its main parts, the overrides, the kind of record it becomes, the
    reader (language, notes) and the record fields found missing so far."""

    root: etree._Element
    admin: etree._Element
    core: etree._Element | None
    overrides: DccOverrides
    reader: Reader
    kind: Kind = Kind.CALIBRATION
    missing: list[FieldError] = field(default_factory=list)
    lab_id: str | None = None
    resolve_replaced: Callable[[str, str], str | None] | None = None

    @classmethod
    def read(cls, root: etree._Element, overrides: DccOverrides) -> _Dcc:
        """Start reading ``root``; the kind is settled first, as the mapping of results depends on it.

        Raises:
            DccInvalid: a ``tracecert_kind`` statement names no TraceCert kind (and ``overrides`` sets none).
        """
        admin = root.find("dcc:administrativeData", NS)
        assert admin is not None  # guaranteed by the XSD
        core = admin.find("dcc:coreData", NS)
        mandatory = (
            [c.text or "" for c in core.findall("dcc:mandatoryLangCodeISO639_1", NS)] if core is not None else []
        )
        dcc = cls(root, admin, core, overrides, Reader(overrides.languages, mandatory))
        dcc.kind = dcc.stated_kind()
        return dcc

    def need(self, field_name: str, value: Any, hint: str) -> Any:
        """Return ``value``; when it is ``None``, first note ``field_name`` as missing, to be supplied by ``hint``."""
        if value is None:
            self.missing.append(FieldError(field_name, "missing_in_dcc", f"not in the DCC; supply it with {hint}"))
        return value

    def statements(self) -> list[etree._Element]:
        """The ``dcc:statement``s of the administrative data."""
        return self.admin.findall("dcc:statements/dcc:statement", NS)

    def statement(self, ref_type: str) -> etree._Element | None:
        """The first statement of ``ref_type``."""
        return next((s for s in self.statements() if ref_type in ref_types(s)), None)

    def statement_text(self, ref_type: str) -> str | None:
        """The declaration of the first statement of ``ref_type``."""
        s = self.statement(ref_type)
        return self.reader.text(s.find("dcc:declaration", NS)) if s is not None else None

    def statement_date(self, ref_type: str) -> str | None:
        """The date of the first statement of ``ref_type``."""
        s = self.statement(ref_type)
        return find_text(s, "dcc:date") if s is not None else None

    def stated_kind(self) -> Kind:
        """The overridden kind, else the one a TraceCert export states, else CALIBRATION.

        Raises:
            DccInvalid: the ``tracecert_kind`` statement names no TraceCert kind.
        """
        stated = self.statement_text("tracecert_kind")
        if self.overrides.kind is None and stated is not None and stated not in Kind.__members__:
            raise DccInvalid(
                "the tracecert_kind statement names no TraceCert kind",
                [FieldError("statement[@refType='tracecert_kind']", "unsupported_value", f"{stated!r}")],
            )
        return self.overrides.kind or Kind(stated or Kind.CALIBRATION.value)

    def measurement_results(self) -> list[etree._Element]:
        """The ``dcc:measurementResult``s."""
        return self.root.findall("dcc:measurementResults/dcc:measurementResult", NS)


def _location(el: etree._Element | None, reader: Reader) -> tuple[str | None, str | None]:
    """Return (address, countryCode) of a dcc:location."""
    if el is None:
        return None, None
    street = " ".join(filter(None, [find_text(el, "dcc:street"), find_text(el, "dcc:streetNo")]))
    city = " ".join(filter(None, [find_text(el, "dcc:postCode"), find_text(el, "dcc:city")]))
    further = [reader.text(f) for f in el.findall("dcc:further", NS)]
    parts = [p for p in [*further, street, city, find_text(el, "dcc:state")] if p]
    return (", ".join(parts) or None), find_text(el, "dcc:countryCode")


def _identifications(el: etree._Element) -> dict[str, str]:
    """issuer -> first value."""
    out: dict[str, str] = {}
    for ident in el.findall("dcc:identifications/dcc:identification", NS):
        issuer, value = find_text(ident, "dcc:issuer"), find_text(ident, "dcc:value")
        if issuer and value and issuer not in out:
            out[issuer] = value
    return out


def _tracecert_hash(el: etree._Element | None, reader: Reader, where: str) -> tuple[str | None, str | None]:
    """(referralID, certificate digest) of a dcc:hashType element."""
    if el is None:
        return None, None
    number = find_text(el, "dcc:referralID")
    procedure = find_text(el, "dcc:procedure")
    value = find_text(el, "dcc:value")
    if procedure == TRACECERT_DIGEST_PROCEDURE and value:
        try:
            return number, to_hex(from_hex(value if value.startswith("0x") else "0x" + value))
        except MalformedValue:
            reader.notes.append(f"{where}: certificate digest {value!r} is not 32 bytes of hex; not used")
            return number, None
    if value and procedure != NO_DIGEST_PROCEDURE:
        reader.notes.append(f"{where}: hash with procedure {procedure!r} is not a TraceCert digest; not used")
    return number, None


def _tracecert_contents(el: etree._Element | None) -> dict[str, str]:
    """``tracecert_<key>`` -> text of the ``dcc:content``s of ``el``'s ``dcc:description`` (export's extras)."""
    out: dict[str, str] = {}
    if el is None:
        return out
    for content in el.findall("dcc:description/dcc:content", NS):
        for t in ref_types(content):
            text = clean(content.text)
            if t.startswith("tracecert_") and text is not None:
                out[t[len("tracecert_") :]] = text
    return out


def _flag(el: etree._Element | None, path: str) -> bool | None:
    text = find_text(el, path)
    return None if text is None else text in ("true", "1")


# --- the parts, each giving record fields -------------------------------------------------------------------


def _identity(dcc: _Dcc) -> dict[str, Any]:
    """coreData/uniqueIdentifier, and the kind."""
    return {
        "schema_version": "tracecert/1",
        "kind": dcc.kind.value,
        "certificate_number": dcc.overrides.certificate_number or find_text(dcc.core, "dcc:uniqueIdentifier"),
    }


def _dates(dcc: _Dcc) -> dict[str, Any]:
    """coreData's dates: the issue date from coreData/issueDate (3.2 and later) or, in 3.0/3.1, a TraceCert
    statement; the recalibration date from the basic_recalibration statement."""
    ov, core = dcc.overrides, dcc.core
    issue = (
        ov.issue_date.isoformat()
        if ov.issue_date
        else find_text(core, "dcc:issueDate") or dcc.statement_date("tracecert_issueDate")
    )
    dates = {
        "receipt_date": find_text(core, "dcc:receiptDate"),
        "performance_begin": find_text(core, "dcc:beginPerformanceDate"),
        "performance_end": find_text(core, "dcc:endPerformanceDate"),
        "issue_date": dcc.need("dates.issue_date", issue, "--issue-date"),
        "valid_until": ov.valid_until.isoformat() if ov.valid_until else dcc.statement_date("basic_recalibration"),
    }
    return {"dates": dates}


def _asset_number(ids: dict[str, str]) -> str | None:
    return ids.get("customer") or ids.get("owner")


def _item(dcc: _Dcc) -> dict[str, Any]:
    """items: one dcc:item is the item; several are the components of a set named by items/name."""
    items_el = dcc.admin.find("dcc:items", NS)
    assert items_el is not None
    item_els = items_el.findall("dcc:item", NS)
    category = dcc.overrides.category_code
    for el in [*item_els, items_el]:
        category = category or find_text(el, "dcc:equipmentClass/dcc:classID")
    item: dict[str, Any] = {"category_code": dcc.need("item.category_code", category, "--category-code")}
    if len(item_els) == 1:
        sub_items = item_els[0].findall("dcc:subItems/dcc:item", NS)
        item.update(_single_item(dcc, item_els[0], has_parts=bool(sub_items)))
        if sub_items:  # DCC 3.3: the pieces of one item
            item["components"] = [_component(el, dcc.reader) for el in sub_items]
            dcc.reader.notes.append(f"item: {len(sub_items)} subItems mapped to item.components")
    else:
        item.update(_item_set(dcc, items_el, item_els))
    item.update(_item_quantities(dcc, item_els))
    mpe = dcc.statement("tracecert_mpe")
    if mpe is not None:
        real = mpe.find("dcc:data/dcc:quantity/si:real", NS)
        if real is not None:
            item["mpe"] = {"value": find_text(real, "si:value"), "unit": find_text(real, "si:unit")}
    item["accuracy_class"] = item.get("accuracy_class") or dcc.statement_text("tracecert_accuracyClass")
    item["measuring_range"] = item.get("measuring_range") or dcc.statement_text("tracecert_measuringRange")
    _owners(dcc, items_el, item_els)
    return {"item": item}


# itemQuantities refTypes (DCC 3.2+) read into the item; others are noted.
_ACCURACY_CLASS = ("accuracyClass",)
_MPE = ("maximumPermissibleError", "MPE", "mpe")
_RANGE_MIN = ("measuringRangeMin", "rangeMin", "validityRangeMin")
_RANGE_MAX = ("measuringRangeMax", "rangeMax", "validityRangeMax")


def _has(refs: set[str], words: tuple[str, ...]) -> bool:
    return any(r.endswith(w) or r.endswith("_" + w) for r in refs for w in words)


def _item_quantities(dcc: _Dcc, item_els: list[etree._Element]) -> dict[str, Any]:
    """item/itemQuantities (DCC 3.2+): an accuracy class, MPE and measuring range by their refTypes; any other
    item quantity is noted with its XPath."""
    out: dict[str, Any] = {}
    low = high = None
    for el in item_els:
        for q in el.findall("dcc:itemQuantities/dcc:itemQuantity", NS):
            refs = ref_types(q)
            real = q.find("si:real", NS)
            value = find_text(real, "si:value") if real is not None else None
            unit = find_text(real, "si:unit") if real is not None else None
            if _has(refs, _ACCURACY_CLASS):
                out["accuracy_class"] = value or dcc.reader.text(q.find("dcc:noQuantity", NS))
            elif _has(refs, _MPE) and value is not None and unit is not None:
                out["mpe"] = {"value": value, "unit": unit}
            elif _has(refs, _RANGE_MIN) and value is not None:
                low = (value, unit)
            elif _has(refs, _RANGE_MAX) and value is not None:
                high = (value, unit)
            else:
                name = dcc.reader.name(q) or "unnamed"
                dcc.reader.notes.append(f"{xpath(q)}: item quantity {name!r} has no record field; not mapped")
    if low and high:
        out["measuring_range"] = f"{low[0]} {low[1] or ''} … {high[0]} {high[1] or ''}".replace("  ", " ").strip()
    return out


def _owners(dcc: _Dcc, items_el: etree._Element, item_els: list[etree._Element]) -> None:
    """item/owner and items/owner (DCC 3.2.1+): the record names one customer; an owner who is not the customer
    is noted."""
    customer = dcc.admin.find("dcc:customer", NS)
    customer_name = dcc.reader.name(customer) if customer is not None else None
    for el in [items_el, *item_els]:
        owner = el.find("dcc:owner", NS)
        if owner is None:
            continue
        name = dcc.reader.name(owner)
        if name != customer_name:
            dcc.reader.notes.append(
                f"{xpath(owner)}: the item's owner {name!r} is not the customer {customer_name!r}; the record "
                "names the customer only"
            )


def _single_item(dcc: _Dcc, el: etree._Element, *, has_parts: bool = False) -> dict[str, Any]:
    """One dcc:item; a serial or asset number is needed unless it has parts (subItems), which then number it."""
    ov, reader = dcc.overrides, dcc.reader
    ids = _identifications(el)
    item = {
        "name": ov.item_name or reader.name(el),
        "manufacturer": reader.text(el.find("dcc:manufacturer/dcc:name", NS)),
        "model": find_text(el, "dcc:model"),
        "serial_number": ov.serial_number or ids.get("manufacturer"),
        "asset_number": _asset_number(ids),
    }
    if item["serial_number"] is None and item["asset_number"] is None and not has_parts:
        dcc.need("item.serial_number", None, "--serial-number")
    return item


def _item_set(dcc: _Dcc, items_el: etree._Element, item_els: list[etree._Element]) -> dict[str, Any]:
    ov, reader = dcc.overrides, dcc.reader
    set_ids = _identifications(items_el)
    item = {
        "name": dcc.need("item.name", ov.item_name or reader.name(items_el), "--item-name"),
        "serial_number": ov.serial_number or set_ids.get("manufacturer"),
        "asset_number": _asset_number(set_ids),
        "components": [_component(el, reader) for el in item_els],
    }
    reader.notes.append(f"item: a set of {len(item_els)} pieces mapped to item.components")
    return item


def _component(el: etree._Element, reader: Reader) -> dict[str, Any]:
    ids = _identifications(el)
    return {
        "name": reader.name(el),
        "serial_number": ids.get("manufacturer"),
        "asset_number": _asset_number(ids),
        "manufacturer": reader.text(el.find("dcc:manufacturer/dcc:name", NS)),
        "model": find_text(el, "dcc:model"),
    }


def _lab(dcc: _Dcc) -> dict[str, Any]:
    """calibrationLaboratory; the lab id from the overrides, a TraceCert statement or the lab code."""
    ov, reader = dcc.overrides, dcc.reader
    lab_el = dcc.admin.find("dcc:calibrationLaboratory", NS)
    assert lab_el is not None
    code = ov.lab_code or find_text(lab_el, "dcc:calibrationLaboratoryCode")
    lab_hex = ov.lab_id or dcc.statement_text("tracecert_labId")
    if lab_hex is None and code is not None:
        lab_hex = to_hex(lab_id(code))
    address, country = _location(lab_el.find("dcc:contact/dcc:location", NS), reader)
    dcc.lab_id = lab_hex
    lab = {
        "lab_id": dcc.need("lab.lab_id", lab_hex, "--lab-code or --lab-id"),
        "code": code,
        "name": ov.lab_name or reader.text(lab_el.find("dcc:contact/dcc:name", NS)),
        "authorization_number": ov.authorization_number or dcc.statement_text("tracecert_authorizationNumber"),
        "accreditation_number": ov.accreditation_number or dcc.statement_text("tracecert_accreditationNumber"),
        "address": address,
        "country_code": country,
    }
    return {"lab": lab}


def _customer(dcc: _Dcc) -> dict[str, Any]:
    """customer, and the TraceCert statements about them (USCI, use, mandatory verification)."""
    cust_el = dcc.admin.find("dcc:customer", NS)
    address, _ = _location(cust_el.find("dcc:location", NS) if cust_el is not None else None, dcc.reader)
    mandatory = dcc.overrides.mandatory_verification
    mv = dcc.statement("tracecert_mandatoryVerification")
    if mandatory is None and mv is not None and find_text(mv, "dcc:valid") is not None:
        mandatory = find_text(mv, "dcc:valid") in ("true", "1")
    customer = {
        "name": dcc.reader.name(cust_el) if cust_el is not None else None,
        "usci": dcc.overrides.customer_usci or dcc.statement_text("tracecert_customerUsci"),
        "address": address,
        "mandatory_verification": mandatory,
        "use": dcc.statement_text("tracecert_customerUse"),
    }
    return {"customer": customer}


def _persons(dcc: _Dcc) -> dict[str, Any]:
    """respPersons."""
    return {"persons": [_person(rp, dcc.reader) for rp in dcc.admin.findall("dcc:respPersons/dcc:respPerson", NS)]}


def _person(rp: etree._Element, reader: Reader) -> dict[str, Any]:
    """A respPerson; a role that is no TraceCert role (or a word for one) is taken from mainSigner, with a note."""
    name = reader.text(rp.find("dcc:person/dcc:name", NS))
    role_text = (find_text(rp, "dcc:role") or "").strip()
    role = _ROLE_WORDS.get(role_text.lower()) or (Role(role_text) if role_text in Role.__members__ else None)
    if role is None:
        role = Role.APPROVER if find_text(rp, "dcc:mainSigner") in ("true", "1") else Role.PERFORMER
        reader.notes.append(
            f"person {name!r}: no TraceCert role in the DCC; mapped to {role.value} "
            "(mainSigner -> APPROVER, otherwise PERFORMER)"
        )
    person_id = next(
        (reader.text(d) for d in rp.findall("dcc:description", NS) if "tracecert_personId" in ref_types(d)),
        None,
    )
    return {"name": name, "role": role.value, "id": person_id}


def _method(dcc: _Dcc) -> dict[str, Any]:
    """usedMethods: the first one not about uncertainty."""
    reader = dcc.reader
    holders = [dcc.root.find("dcc:measurementResults", NS), *dcc.measurement_results()]
    methods = [m for h in holders if h is not None for m in h.findall("dcc:usedMethods/dcc:usedMethod", NS)]
    main = next(
        (m for m in methods if not any("uncertainty" in t.lower() for t in ref_types(m))),
        methods[0] if methods else None,
    )
    method: dict[str, Any] = {}
    if main is not None:
        method = {
            "reference": clean(main.findtext("dcc:norm", namespaces=NS)),
            "title": None if "tracecert_untitled" in ref_types(main) else reader.name(main),
            "clause": clean(main.findtext("dcc:reference", namespaces=NS)),
        }
        if len(methods) > 1:
            reader.notes.append(f"method: {len(methods)} usedMethods; the first non-uncertainty one is mapped")
    if dcc.overrides.method_reference:
        method["reference"] = dcc.overrides.method_reference
    if not method:
        dcc.need("method.reference", None, "--method-reference")
    return {"method": method}


def _measurements(dcc: _Dcc) -> dict[str, Any]:
    """results and influenceConditions; values without U are kept for the kinds that need none."""
    results: list[dict[str, Any]] = []
    conditions: list[dict[str, Any]] = []
    keep_without_u = dcc.kind is not Kind.CALIBRATION
    results_el = dcc.root.find("dcc:measurementResults", NS)
    if results_el is not None:  # DCC 3.3's global influence conditions
        conditions += read_conditions(results_el, dcc.reader)
    for mr in dcc.measurement_results():
        results += read_results(mr, dcc.reader, keep_without_u)
        conditions += read_conditions(mr, dcc.reader)
    return {"conditions": conditions, "results": results}


def _standards(dcc: _Dcc) -> dict[str, Any]:
    """measuringEquipments (DCC 3.3's global ones, then those of each result), with their certificates' number,
    digest, validity, issuing lab, inValidityRange and traceable. A standard that one list repeats from an
    earlier list (the same standard used for several results) is listed once, with a note; within one list every
    entry is kept (two standards may share a name and serial number, e.g. with two certificates)."""
    reader = dcc.reader
    standards: list[dict[str, Any]] = []
    results_el = dcc.root.find("dcc:measurementResults", NS)
    assert results_el is not None  # guaranteed by the XSD
    for equipments in results_el.iter(f"{{{DCC_NS}}}measuringEquipments"):  # DCC 3.3's global ones, then per result
        earlier = list(standards)
        for eq in equipments.findall("dcc:measuringEquipment", NS):
            mark = len(reader.notes)
            standard = _standard(eq, reader)
            if standard in earlier:
                del reader.notes[mark:]  # its notes were made where it was first listed
                name = standard["name"]
                reader.notes.append(f"{xpath(eq)}: repeats the standard {name!r} listed before; listed once")
                continue
            standards.append(standard)
    return {"standards_used": standards}


def _standard(eq: etree._Element, reader: Reader) -> dict[str, Any]:
    """One measuringEquipment as a standard used."""
    name = reader.name(eq)
    ids = _identifications(eq)
    serial = ids.get("manufacturer") or next(iter(ids.values()), None)
    cert = eq.find("dcc:certificate", NS)
    number, digest = _tracecert_hash(cert, reader, f"standard {name!r}")
    extras = _tracecert_contents(cert)
    if extras.get("noNumber") == "true":  # TraceCert's export of a certificate known without its number
        number = None
    standard: dict[str, Any] = {
        "name": name,
        "serial_number": serial,
        "manufacturer": reader.text(eq.find("dcc:manufacturer/dcc:name", NS)),
        "model": find_text(eq, "dcc:model"),
        "accuracy_class": _tracecert_contents(eq).get("accuracyClass"),
        "certificate_number": number,
        "certificate_digest": digest,
        "issuing_lab_id": extras.get("issuingLabId"),
        "issuing_lab_name": extras.get("issuingLabName"),
        "valid_until": extras.get("validUntil"),
        "in_validity_range": _flag(cert, "dcc:inValidityRange"),
        "traceable": _flag(cert, "dcc:traceable"),
    }
    standard.update(_equipment_quantities(eq, reader))
    if number is None:
        reader.notes.append(f"standard {name!r}: the DCC gives no certificate reference")
    return standard


def _equipment_quantities(eq: etree._Element, reader: Reader) -> dict[str, Any]:
    """measuringEquipmentQuantities: the standard's uncertainty, coverage factor and MPE as the export writes
    them; others are noted with their XPath."""
    out: dict[str, Any] = {}
    k = None
    for q in eq.findall("dcc:measuringEquipmentQuantities/dcc:measuringEquipmentQuantity", NS):
        refs = ref_types(q)
        value, unit = find_text(q, "si:real/si:value"), find_text(q, "si:real/si:unit")
        if "tracecert_standardUncertainty" in refs and value and unit:
            out["uncertainty"] = {"expanded_uncertainty": value, "unit": unit}
        elif "tracecert_standardCoverageFactor" in refs and value:
            k = value
        elif "tracecert_mpe" in refs and value and unit:
            out["mpe"] = {"value": value, "unit": unit}
        else:
            reader.notes.append(f"{xpath(q)}: a quantity of the standard {reader.name(eq)!r} is not mapped")
    if k is not None and "uncertainty" in out:
        out["uncertainty"]["coverage_factor"] = k
    return out


def _statements(dcc: _Dcc) -> dict[str, Any]:
    """statements: conformity (conclusion, decision rule), traceability, and TraceCert's remarks."""
    reader = dcc.reader
    conclusion = decision_rule = traceability = None
    for s in dcc.statements():
        conformity = find_text(s, "dcc:conformity")
        if conformity is not None:
            if conformity in ("pass", "fail"):
                conclusion = "PASS" if conformity == "pass" else "FAIL"
                decision_rule = reader.text(s.find("dcc:declaration", NS))
            else:
                reader.notes.append(f"conformity {conformity!r} has no TraceCert conclusion; not mapped")
        if find_text(s, "dcc:traceable") in ("true", "1") and traceability is None:
            traceability = reader.text(s.find("dcc:declaration", NS)) or find_text(s, "dcc:convention")
    return {
        "conclusion": conclusion,
        "decision_rule": decision_rule,
        "traceability_statement": traceability,
        "remarks": dcc.statement_text("tracecert_remarks"),
    }


def _replaces(dcc: _Dcc) -> dict[str, Any]:
    """The certificate this one replaces: coreData/reportAmendedSubstituted (DCC 3.2.1+; amended or
    substituted, both a substitution in TraceCert) names its number, coreData/previousReport its TraceCert
    digest (or ``DccOverrides.replaces_digest``, or what ``resolve_replaced`` finds for the lab and number). A
    DCC that says it replaces a report whose digest is not known is incomplete."""
    core = dcc.core
    prev = core.find("dcc:previousReport", NS) if core is not None else None
    amended = core.find("dcc:reportAmendedSubstituted", NS) if core is not None else None
    number = digest = None
    if prev is not None:
        number, digest = _tracecert_hash(prev, dcc.reader, "previousReport")
    if amended is not None:
        replaced = find_text(amended, "dcc:replacedUniqueIdentifier")
        if number is not None and replaced != number:
            raise DccInvalid(
                "the DCC names two different replaced reports",
                [
                    FieldError(
                        "coreData/reportAmendedSubstituted/replacedUniqueIdentifier",
                        "replaces_mismatch",
                        f"{replaced!r} here, {number!r} in coreData/previousReport",
                    )
                ],
            )
        number = replaced
        change = find_text(amended, "dcc:typeOfChange")
        dcc.reader.notes.append(f"coreData/reportAmendedSubstituted: {change} report {replaced!r} mapped to replaces")
    digest = dcc.overrides.replaces_digest or digest
    if number is None:
        return {"replaces": None}
    if digest is None and dcc.resolve_replaced is not None and dcc.lab_id is not None:
        digest = dcc.resolve_replaced(dcc.lab_id, number)
    dcc.need("replaces.certificate_digest", digest, "--replaces-digest (the replaced certificate's digest)")
    return {"replaces": {"certificate_number": number, "certificate_digest": digest}}


_Part = Callable[[_Dcc], dict[str, Any]]

# DCC 3.0 and 3.1 share one mapping. The parts run in this order, which is the order of the notes and of the
# missing fields reported.
_DCC_3_0: tuple[_Part, ...] = (
    _identity,
    _dates,
    _item,
    _lab,
    _customer,
    _persons,
    _method,
    _measurements,
    _standards,
    _statements,
    _replaces,
)

MAPPINGS: dict[str, tuple[_Part, ...]] = {
    "3.0.0": _DCC_3_0,
    "3.1.1": _DCC_3_0,
    "3.1.2": _DCC_3_0,
    "3.2.0": _DCC_3_0,
    "3.2.1": _DCC_3_0,
    "3.3.0": _DCC_3_0,
}
"""The mapping of each DCC version read (one per ``schema.SUPPORTED_SCHEMA_VERSIONS``): the parts that, in
order, give the record's fields. A version that maps a part otherwise swaps that part."""


# --- the import ---------------------------------------------------------------------------------------------


def import_dcc(
    data: bytes,
    overrides: DccOverrides | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    resolve_replaced: Callable[[str, str], str | None] | None = None,
    trust: TrustStore | None = None,
    signed_at: dt.datetime | None = None,
) -> DccImport:
    """Parse, validate and map a DCC (3.0.0, 3.1.1, 3.1.2, 3.2.0, 3.2.1, 3.3.0) into a certificate record.

    The record's ``original_document`` binds the SHA-256 of ``data``, unless the DCC is a TraceCert export,
    which states the original document of the record it renders (or none). Kind is CALIBRATION unless overridden
    (or stated by a DCC that :func:`~tracecert.certificate.dcc.export.export_dcc` wrote).

    Raises:
        DccTooLarge, XmlUnsafe, XmlMalformed, DccWrongRoot, DccSchemaUnsupported: see :func:`parse_dcc`.
        DccInvalid: the XML does not validate against its declared schema version, or names an unknown kind.
        DccIncomplete: the record needs a value the DCC does not hold and ``overrides`` did not give;
            ``errors`` names each field and the override to use.
        RecordInvalid: the mapped record breaks a rule (e.g. issue date before the performance end); its
            ``errors`` end with the import's notes (rule ``dcc_import_note``).

    ``resolve_replaced(lab_id, number)`` gives the digest of the certificate a substituting DCC names by
    number only (the registry CLI asks the registry), or None.

    A signed DCC's signature is verified (:func:`~tracecert.certificate.dcc.signature.verify_dcc_signature`):
    a DCC changed after signing is refused; its signer is judged against ``trust`` at the signed time (else
    ``signed_at``, else now); without a trust store the signer is not judged, and a note says so.

    Raises:
        DccSignatureInvalid, DccSignerRevoked: the signature fails (whatever the trust store).
        DccSignerUntrusted: ``trust`` is given and the signer's chain does not reach it.
    """
    tree, version = parse_dcc(data, max_bytes=max_bytes)
    validate_tree(tree, version)
    signature = _signature(data, trust, signed_at, max_bytes)
    # A DCC TraceCert exported carries the record's text as it is (newlines, tabs, leading spaces): read it so, or
    # the round trip would change the digest; a lab's own DCC is read with its whitespace collapsed.
    with verbatim(_exported_by_tracecert(tree.getroot())):
        dcc = _Dcc.read(tree.getroot(), overrides or DccOverrides())
        if signature is None and trust is None and tree.getroot().find(f"{{{DS_NS}}}Signature") is not None:
            dcc.reader.notes.append(
                "the DCC is signed and its signature verifies; no trust store given: signer not judged"
            )
        dcc.resolve_replaced = resolve_replaced
        record_json: dict[str, Any] = {}
        for part in MAPPINGS[version]:
            record_json.update(part(dcc))
    if dcc.missing:
        raise DccIncomplete("the DCC lacks data the certificate record requires", dcc.missing)
    doc_hash = document_digest(data)
    stated = dcc.statement_text("tracecert_originalDocument")
    if stated is None:  # the DCC is the original
        record_json["original_document"] = {"media_type": DCC_MEDIA_TYPE, "sha256": to_hex(doc_hash)}
    elif stated != "none":  # a TraceCert export: the record it renders binds its own original (or none)
        media_type, _, sha256 = stated.partition(" ")
        record_json["original_document"] = {"media_type": media_type, "sha256": sha256}
    try:
        record = record_from_json(_drop_none(record_json))
    except RecordInvalid as exc:  # say what the import left out: it is often why a rule fails
        raise RecordInvalid(exc.message, [*exc.errors, *_note_errors(dcc.reader.notes)]) from exc
    return DccImport(
        record=record,
        schema_version=version,
        document_sha256=doc_hash,
        notes=tuple(dcc.reader.notes),
        signature=signature,
    )


def _exported_by_tracecert(root: etree._Element) -> bool:
    """Whether the DCC is one TraceCert exported (:mod:`~tracecert.certificate.dcc.export`): it states its
    original document in a ``tracecert_originalDocument`` statement."""
    for statement in root.iterfind(".//dcc:statement", NS):
        if "tracecert_originalDocument" in ref_types(statement):
            return True
    return False


def _signature(
    data: bytes, trust: TrustStore | None, signed_at: dt.datetime | None, max_bytes: int
) -> SignatureReport | None:
    """The signature's report; None for an unsigned DCC, or a signed one whose signer is not judged (no trust
    store given: the bytes verified)."""
    try:
        return verify_dcc_signature(data, trust or TrustStore.empty(), at=signed_at, max_bytes=max_bytes)
    except DccSignerUntrusted:
        if trust is None:
            return None
        raise


def _note_errors(notes: list[str]) -> list[FieldError]:
    """The import's notes as :class:`FieldError`s (rule ``dcc_import_note``; the field is the XPath a note
    names, else ``dcc``), added to a refusal of the mapped record."""
    out = []
    for note in notes:
        where, sep, what = note.partition(": ")
        field_name = where if sep and where.startswith("/") else "dcc"
        out.append(FieldError(field_name, "dcc_import_note", what if field_name != "dcc" else note))
    return out


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj
