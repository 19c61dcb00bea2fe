"""DCC export: a :class:`CertificateRecord` written as DCC 3.3.0 XML (D-SI 2.2), part by part, and checked
against the XSD before it is returned.

Everything the record holds is written, so that importing the export gives the same record (and digest): where
DCC has an element, it is used (coreData/issueDate, reportAmendedSubstituted, the global measuringEquipments with
their certificates' hashes, inValidityRange and traceable, D-SI 2.2's measurementUncertaintyUnivariate); the
rest goes to ``tracecert_*`` refTypes (statements, descriptions, measurement metadata), which the import reads
back.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from lxml import etree

from tracecert import __version__
from tracecert.certificate.dcc.schema import (
    DCC_NS,
    EXPORT_SCHEMA_VERSION,
    NO_DIGEST_PROCEDURE,
    NS,
    ROOT_TAG,
    SI_NS,
    TRACECERT_DIGEST_PROCEDURE,
    hardened_parser,
    validate_tree,
)
from tracecert.certificate.model import CertificateRecord, Role

if TYPE_CHECKING:
    from tracecert.certificate.signing import SigningKey

__all__ = ["export_dcc"]


# D-SI 2.2 measurementUncertaintyUnivariate forms: (element, ((key, child), ...)), in the XSD's child order.
_EXPANDED_MU = (
    "expandedMU",
    (("U", "valueExpandedMU"), ("k", "coverageFactor"), ("p", "coverageProbability"), ("distribution", "distribution")),
)
_INTERVAL_MU = (
    "coverageIntervalMU",
    (
        ("u", "valueStandardMU"),
        ("min", "intervalMin"),
        ("max", "intervalMax"),
        ("ip", "coverageProbability"),
        ("distribution", "distribution"),
    ),
)
_STANDARD_MU = ("standardMU", (("u", "valueStandardMU"), ("distribution", "distribution")))


_UNTITLED = "tracecert_untitled"
"""The refType of a usedMethod whose record method has no title (its dcc:name repeats the reference)."""
_NO_NUMBER = "-"
"""The referralID of a standard's certificate known without its number (with a ``tracecert_noNumber``
description, which the import reads as no number)."""


def _mu_form(unc: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The D-SI 2.2 form that holds the most of ``unc``, or None."""
    if all(k in unc for k in ("U", "k", "p")):
        return _EXPANDED_MU
    if all(k in unc for k in ("u", "min", "max", "ip")):
        return _INTERVAL_MU
    if "u" in unc:
        return _STANDARD_MU
    return None


def _unc(**parts: str | None) -> dict[str, str]:
    return {k: v for k, v in parts.items() if v is not None}


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

    def si_real(self, parent: etree._Element, value: str, unit: str, unc: dict[str, str] | None = None) -> None:
        """A ``si:real``; of ``unc`` (keys U, k, p, distribution, u, min, max, ip) the part D-SI 2.2 has a form
        for is written in it: U, k and p as expandedMU, else u with an interval as coverageIntervalMU, else u as
        standardMU. :meth:`quantity` writes the rest as metadata."""
        real = self.el(parent, "si:real")
        self.el(real, "si:value", value)
        self.el(real, "si:unit", unit)
        form = _mu_form(unc or {})
        if form is None:
            return
        name, fields = form
        mu = self.el(self.el(real, "si:measurementUncertaintyUnivariate"), f"si:{name}")
        for key, tag in fields:
            if key in (unc or {}):
                self.el(mu, f"si:{tag}", (unc or {})[key])

    def uncertainty_meta(self, quantity: etree._Element, unit: str, rest: dict[str, str]) -> None:
        """The parts of the uncertainty D-SI has no form for, one quantity each (refType ``tracecert_<part>``)."""
        meta = self.el(self.el(quantity, "dcc:measurementMetaData"), "dcc:metaData", refType="tracecert_uncertainty")
        self.text(meta, "dcc:declaration", "uncertainty stated by TraceCert in parts")
        self.el(meta, "dcc:valid", "true")
        data = self.el(meta, "dcc:data")
        for key, value in rest.items():
            q = self.el(data, "dcc:quantity", refType=f"tracecert_{key}")
            if key == "distribution":
                self.text(q, "dcc:noQuantity", value)
            else:
                self.si_real(q, value, "\\one" if key in ("k", "p", "ip") else unit)

    def quantity(
        self, parent: etree._Element, value: str, unit: str, unc: dict[str, str], **attrs: str
    ) -> etree._Element:
        q = self.el(parent, "dcc:quantity", **attrs)
        self.si_real(q, value, unit, unc)
        form = _mu_form(unc)
        written = {key for key, _ in form[1]} if form is not None else set()
        rest = {key: v for key, v in unc.items() if key not in written}
        if rest:
            self.uncertainty_meta(q, unit, rest)
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

    def hash(
        self,
        parent: etree._Element,
        tag: str,
        referral: str,
        number: str,
        digest: str | None,
        *,
        descriptions: dict[str, str | None] | None = None,
        in_validity_range: bool | None = None,
        traceable: bool | None = None,
    ) -> None:
        """A ``dcc:hashType``: the certificate's number and TraceCert digest (procedure
        :data:`NO_DIGEST_PROCEDURE` when the digest is not known), ``descriptions`` as ``tracecert_*``
        contents, and the 3.2+ flags."""
        h = self.el(parent, tag)
        self.text(h, "dcc:referral", referral)
        self.el(h, "dcc:referralID", number)
        self.el(h, "dcc:procedure", TRACECERT_DIGEST_PROCEDURE if digest is not None else NO_DIGEST_PROCEDURE)
        self.el(h, "dcc:value", digest if digest is not None else "none")
        self.descriptions(h, descriptions or {})
        if in_validity_range is not None:
            self.el(h, "dcc:inValidityRange", "true" if in_validity_range else "false")
        if traceable is not None:
            self.el(h, "dcc:traceable", "true" if traceable else "false")

    def descriptions(self, parent: etree._Element, values: dict[str, str | None]) -> None:
        """A ``dcc:description`` holding one ``dcc:content`` per value, each with refType ``tracecert_<key>``."""
        present = {k: v for k, v in values.items() if v is not None}
        if not present:
            return
        desc = self.el(parent, "dcc:description")
        for key, value in present.items():
            self.el(desc, "dcc:content", value, lang=self.lang, refType=f"tracecert_{key}")


def export_dcc(
    record: CertificateRecord,
    *,
    lang: str = "zh",
    country_code: str = "CN",
    performance_location: str = "laboratory",
    sign_with: SigningKey | None = None,
) -> bytes:
    """Write a record as DCC 3.3.0 XML (UTF-8) and check it against the 3.3.0 XSD before returning it.

    ``lang`` tags all text; ``country_code`` is used when the lab has none. Every field of the record is
    written (see the module docstring), so :func:`~tracecert.certificate.dcc.reading.import_dcc` of the output
    gives the same record, and the same digest. With ``sign_with`` (the lab's key) the validated XML is signed
    (:func:`~tracecert.certificate.dcc.signature.sign_dcc`: an enveloped Ed25519 ``ds:Signature``) and
    validated again; the import of the signed DCC gives the same record too.

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
    results = w.el(root, "dcc:measurementResults")
    if record.standards_used:
        _measuring_equipments(w, w.el(results, "dcc:measuringEquipments"), record)
    _measurement_result(w, w.el(results, "dcc:measurementResult"), record)

    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate_tree(etree.fromstring(out, parser=hardened_parser()).getroottree(), EXPORT_SCHEMA_VERSION)
    if sign_with is not None:
        from tracecert.certificate.dcc.signature import sign_dcc

        out = sign_dcc(out, sign_with)
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
    w.el(core, "dcc:issueDate", d.issue_date.isoformat())
    if record.replaces is not None:
        amended = w.el(core, "dcc:reportAmendedSubstituted")
        w.el(amended, "dcc:typeOfChange", "substituted")
        w.el(amended, "dcc:replacedUniqueIdentifier", record.replaces.certificate_number)
        w.hash(
            core,
            "dcc:previousReport",
            "replaced certificate",
            record.replaces.certificate_number,
            record.replaces.certificate_digest,
        )


def _items(w: _Writer, admin: etree._Element, record: CertificateRecord) -> None:
    """items: the item as one dcc:item; a set's components as its subItems (DCC 3.3), so that the set keeps its
    own manufacturer and model and a set of one piece stays a set."""
    items = w.el(admin, "dcc:items")
    it = record.item
    item = w.el(items, "dcc:item")
    w.text(item, "dcc:name", it.name)
    w.equipment_class(item, it.category_code)
    if it.manufacturer is not None:
        w.text(w.el(item, "dcc:manufacturer"), "dcc:name", it.manufacturer)
    if it.model is not None:
        w.el(item, "dcc:model", it.model)
    w.identifications(item, it.serial_number, it.asset_number)
    if it.components:
        sub_items = w.el(item, "dcc:subItems")
        for piece in it.components:
            sub = w.el(sub_items, "dcc:item")
            w.text(sub, "dcc:name", piece.name)
            if piece.manufacturer is not None:  # optional in 3.3.0: an absent one is not written as a name
                w.text(w.el(sub, "dcc:manufacturer"), "dcc:name", piece.manufacturer)
            if piece.model is not None:
                w.el(sub, "dcc:model", piece.model)
            w.identifications(sub, piece.serial_number, piece.asset_number)


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
    doc = record.original_document  # the import binds the XML itself where the DCC states no original
    w.statement(
        statements,
        "tracecert_originalDocument",
        declaration=f"{doc.media_type} {doc.sha256}" if doc is not None else "none",
    )
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
        ("tracecert_accuracyClass", record.item.accuracy_class),
        ("tracecert_measuringRange", record.item.measuring_range),
    ):
        if value is not None:
            w.statement(statements, ref_type, declaration=value)
    if record.item.mpe is not None:
        mpe = w.el(statements, "dcc:statement", refType="tracecert_mpe")
        w.text(mpe, "dcc:declaration", "maximum permissible error")
        w.quantity(w.el(mpe, "dcc:data"), record.item.mpe.value, record.item.mpe.unit, {})
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
    # dcc:name is required: a method without a title is named by its reference, and says so by its refType.
    untitled = {"refType": _UNTITLED} if record.method.title is None else {}
    method = w.el(w.el(mr, "dcc:usedMethods"), "dcc:usedMethod", **untitled)
    w.text(method, "dcc:name", record.method.title or record.method.reference or "method")
    if record.method.reference is not None:
        w.el(method, "dcc:norm", record.method.reference)
    if record.method.clause is not None:
        w.el(method, "dcc:reference", record.method.clause)
    if record.conditions:
        conds = w.el(mr, "dcc:influenceConditions")
        for c in record.conditions:
            cond = w.el(conds, "dcc:influenceCondition")
            w.text(cond, "dcc:name", c.name)
            w.quantity(w.el(cond, "dcc:data"), c.value, c.unit, _unc(U=c.expanded_uncertainty, k=c.coverage_factor))
    _results(w, w.el(mr, "dcc:results"), record)


def _measuring_equipments(w: _Writer, equipments: etree._Element, record: CertificateRecord) -> None:
    """The standards used (basic_normalUsed, DCC 3.3's global measuringEquipments), each with its certificate
    (number, TraceCert digest, validity, issuing lab, inValidityRange, traceable), uncertainty and MPE."""
    for s in record.standards_used:
        eq = w.el(equipments, "dcc:measuringEquipment", refType="basic_normalUsed")
        w.text(eq, "dcc:name", s.name)
        w.descriptions(eq, {"accuracyClass": s.accuracy_class})
        facts = (s.certificate_digest, s.valid_until, s.issuing_lab_id, s.issuing_lab_name, s.in_validity_range)
        if s.certificate_number is not None or any(f is not None for f in (*facts, s.traceable)):
            # hashType needs a referralID: a certificate known without its number is written "-" and said so.
            w.hash(
                eq,
                "dcc:certificate",
                "certificate of the standard",
                s.certificate_number or _NO_NUMBER,
                s.certificate_digest,
                descriptions={
                    "validUntil": s.valid_until.isoformat() if s.valid_until else None,
                    "issuingLabId": s.issuing_lab_id,
                    "issuingLabName": s.issuing_lab_name,
                    "noNumber": "true" if s.certificate_number is None else None,
                },
                in_validity_range=s.in_validity_range,
                traceable=s.traceable,
            )
        if s.manufacturer is not None:
            w.text(w.el(eq, "dcc:manufacturer"), "dcc:name", s.manufacturer)
        if s.model is not None:
            w.el(eq, "dcc:model", s.model)
        if s.serial_number is not None:
            ident = w.el(w.el(eq, "dcc:identifications"), "dcc:identification")
            w.el(ident, "dcc:issuer", "manufacturer")
            w.el(ident, "dcc:value", s.serial_number)
        if s.uncertainty is not None or s.mpe is not None:
            quantities = w.el(eq, "dcc:measuringEquipmentQuantities")
            if s.uncertainty is not None:
                unc = s.uncertainty
                q = w.el(quantities, "dcc:measuringEquipmentQuantity", refType="tracecert_standardUncertainty")
                w.si_real(q, unc.expanded_uncertainty, unc.unit)
                if unc.coverage_factor is not None:
                    k = w.el(quantities, "dcc:measuringEquipmentQuantity", refType="tracecert_standardCoverageFactor")
                    w.si_real(k, unc.coverage_factor, "\\one")
            if s.mpe is not None:
                mpe = w.el(quantities, "dcc:measuringEquipmentQuantity", refType="tracecert_mpe")
                w.si_real(mpe, s.mpe.value, s.mpe.unit)


def _results(w: _Writer, results: etree._Element, record: CertificateRecord) -> None:
    """One dcc:result per result: the value (adjustment as refType), then its reference and indicated values."""
    for r in record.results:
        res = w.el(results, "dcc:result")
        w.text(res, "dcc:name", r.quantity)
        data = w.el(res, "dcc:data")
        attrs = {"refType": f"tracecert_adjustment_{r.adjustment.value}"} if r.adjustment else {}
        ci = r.coverage_interval
        unc = _unc(
            U=r.expanded_uncertainty,
            k=r.coverage_factor,
            p=r.coverage_probability,
            distribution=r.distribution,
            u=r.standard_uncertainty,
            min=ci.min if ci else None,
            max=ci.max if ci else None,
            ip=ci.coverage_probability if ci else None,
        )
        w.quantity(data, r.value, r.unit, unc, **attrs)
        if r.reference_value is not None:
            w.quantity(data, r.reference_value.value, r.reference_value.unit, {}, refType="basic_referenceValue")
        if r.indicated_value is not None:
            w.quantity(data, r.indicated_value.value, r.indicated_value.unit, {}, refType="basic_measuredValue")
