"""DCC export: a :class:`CertificateRecord` written as DCC 3.1.2 XML, part by part, and checked against the XSD.

Fields with no DCC element go to ``dcc:statement``s with ``tracecert_*`` refTypes, which the import reads back.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from tracecert import __version__
from tracecert.certificate.dcc.schema import (
    DCC_NS,
    EXPORT_SCHEMA_VERSION,
    NS,
    ROOT_TAG,
    SI_NS,
    TRACECERT_DIGEST_PROCEDURE,
    hardened_parser,
    validate_tree,
)
from tracecert.certificate.model import CertificateRecord, Role

__all__ = ["export_dcc"]


class _Writer:
    """Builds DCC elements from ``prefix:local`` tags; all text is tagged with one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def el(self, parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
        prefix, local = tag.split(":")
        child = etree.SubElement(parent, f"{{{NS[prefix]}}}{local}", attrs)
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
    written as ``dcc:statement`` elements with ``tracecert_*`` refTypes, which
    :func:`~tracecert.certificate.dcc.reading.import_dcc` reads back. Not carried: item accuracy class, MPE and
    measuring range; standards' validity, lab id, uncertainty, MPE.

    Raises:
        DccInvalid: the output does not validate (a bug; the errors name the XSD violations).
    """
    w = _Writer(lang)
    root = etree.Element(ROOT_TAG, {"schemaVersion": EXPORT_SCHEMA_VERSION}, nsmap={"dcc": DCC_NS, "si": SI_NS})
    admin = w.el(root, "dcc:administrativeData")
    software = w.el(w.el(admin, "dcc:dccSoftware"), "dcc:software")
    w.text(software, "dcc:name", "TraceCert")
    w.el(software, "dcc:release", __version__)
    _core_data(w, admin, record, country_code, performance_location)
    _items(w, admin, record)
    _lab(w, admin, record)
    _persons(w, admin, record)
    w.contact(admin, "dcc:customer", record.customer.name, record.customer.address, None)
    _statements(w, admin, record)
    _measurement_result(w, w.el(w.el(root, "dcc:measurementResults"), "dcc:measurementResult"), record)

    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate_tree(etree.fromstring(out, parser=hardened_parser()).getroottree(), EXPORT_SCHEMA_VERSION)
    return out


def _core_data(
    w: _Writer, admin: etree._Element, record: CertificateRecord, country_code: str, performance_location: str
) -> None:
    """coreData: languages, number, performance dates, and the certificate replaced."""
    core = w.el(admin, "dcc:coreData")
    w.el(core, "dcc:countryCodeISO3166_1", record.lab.country_code or country_code)
    w.el(core, "dcc:usedLangCodeISO639_1", w.lang)
    w.el(core, "dcc:mandatoryLangCodeISO639_1", w.lang)
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


def _items(w: _Writer, admin: etree._Element, record: CertificateRecord) -> None:
    """items: the item as one dcc:item, or a set (its name, class and numbers on items) of its components."""
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


def _lab(w: _Writer, admin: etree._Element, record: CertificateRecord) -> None:
    """calibrationLaboratory: code and contact."""
    lab_el = w.el(admin, "dcc:calibrationLaboratory")
    if record.lab.code is not None:
        w.el(lab_el, "dcc:calibrationLaboratoryCode", record.lab.code)
    w.contact(lab_el, "dcc:contact", record.lab.name, record.lab.address, record.lab.country_code)


def _persons(w: _Writer, admin: etree._Element, record: CertificateRecord) -> None:
    """respPersons: the TraceCert role as dcc:role; the approver is the main signer."""
    persons = w.el(admin, "dcc:respPersons")
    for p in record.persons:
        rp = w.el(persons, "dcc:respPerson")
        w.text(w.el(rp, "dcc:person"), "dcc:name", p.name)
        if p.id is not None:
            w.text(rp, "dcc:description", p.id, refType="tracecert_personId")
        w.el(rp, "dcc:role", p.role.value)
        if p.role is Role.APPROVER:
            w.el(rp, "dcc:mainSigner", "true")


def _statements(w: _Writer, admin: etree._Element, record: CertificateRecord) -> None:
    """statements: TraceCert's own fields (``tracecert_*``), recalibration, traceability and conformity."""
    statements = w.el(admin, "dcc:statements")
    d = record.dates
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


def _measurement_result(w: _Writer, mr: etree._Element, record: CertificateRecord) -> None:
    """The one measurementResult: method, standards, conditions, results."""
    w.text(mr, "dcc:name", "results")
    method = w.el(w.el(mr, "dcc:usedMethods"), "dcc:usedMethod")
    w.text(method, "dcc:name", record.method.title or record.method.reference or "method")
    if record.method.reference is not None:
        w.el(method, "dcc:norm", record.method.reference)
    if record.method.clause is not None:
        w.el(method, "dcc:reference", record.method.clause)
    if record.standards_used:
        _measuring_equipments(w, w.el(mr, "dcc:measuringEquipments"), record)
    if record.conditions:
        conds = w.el(mr, "dcc:influenceConditions")
        for c in record.conditions:
            cond = w.el(conds, "dcc:influenceCondition")
            w.text(cond, "dcc:name", c.name)
            w.quantity(w.el(cond, "dcc:data"), c.value, c.unit, c.expanded_uncertainty, c.coverage_factor, None)
    _results(w, w.el(mr, "dcc:results"), record)


def _measuring_equipments(w: _Writer, equipments: etree._Element, record: CertificateRecord) -> None:
    """The standards used (basic_normalUsed), with their certificate's TraceCert digest when known."""
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


def _results(w: _Writer, results: etree._Element, record: CertificateRecord) -> None:
    """One dcc:result per result: the value (adjustment as refType), then its reference and indicated values."""
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
                data, r.reference_value.value, r.reference_value.unit, None, None, None, refType="basic_referenceValue"
            )
        if r.indicated_value is not None:
            w.quantity(
                data, r.indicated_value.value, r.indicated_value.unit, None, None, None, refType="basic_measuredValue"
            )
