"""The certificate record: pydantic models for VERIFICATION, VERIFICATION_FAIL_NOTICE and CALIBRATION, with
the rules of each kind, and :func:`record_from_json`, the one way in from JSON.

Representation choices (also in ``docs/bundle.md``):

- Every measured or numeric value is a **decimal string** (``"0.10"``, ``"1.2480E-6"``), kept exactly as
  the lab wrote it. Floats would lose trailing zeros that state resolution, and ``0.1`` has no exact binary
  value; a record holds no JSON numbers at all, so RFC 8785's number formatting never comes into play.
- Dates are ``YYYY-MM-DD`` strings; booleans are JSON ``true``/``false`` only; hashes and ids are ``0x`` +
  64 lowercase hex digits.
- Optional members are absent rather than ``null``; optional arrays are absent rather than ``[]`` (the digest
  drops both, see :func:`tracecert.certificate.canonical.normalize_record_json`). Strings must not be empty.
- ``substituted by`` and ``revoked`` are chain status, never part of the record: the digest of an issued
  record never changes. ``replaces`` is known at issue time and is signed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from operator import mul
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tracecert.certificate.canonical import (
    HEX32_PATTERN,
    canonical_if_normal,
    compute_canonical_record,
    digest_canonical_record,
    from_hex,
    jcs_layout,
    lab_id,
    parse_json,
)
from tracecert.certificate.errors import CanonicalizationFailed, FieldError, RecordInvalid

__all__ = [
    "SCHEMA_VERSION",
    "Adjustment",
    "CertificateRecord",
    "Component",
    "Conclusion",
    "Condition",
    "Customer",
    "Dates",
    "Interval",
    "Item",
    "Kind",
    "Lab",
    "Method",
    "OriginalDocument",
    "Person",
    "Quantity",
    "Replaces",
    "Result",
    "Role",
    "StandardUncertainty",
    "StandardUsed",
    "is_valid_usci",
    "record_from_json",
    "validation_errors",
]

SCHEMA_VERSION = "tracecert/1"

# --- scalar types -------------------------------------------------------------------------------------------

Text = Annotated[str, StringConstraints(min_length=1, max_length=20000, pattern=r"\S")]
"""Non-empty text (at least one non-space character), kept verbatim."""

#: Unicode categories an identifier may not hold: controls, format characters (zero-width spaces and joiners,
#: the byte-order mark, bidirectional overrides), surrogates, private use, unassigned, line/paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _identifier(value: str) -> str:
    """An identifier is what a person reads and compares: nothing invisible in it, and one spelling only.

    Refused: any control, format or bidirectional character (``HZJL-00031\u200b`` would otherwise be another
    number than ``HZJL-00031`` that looks the same), and any text not in Unicode NFKC form (full-width ``ＨＺ``,
    compatibility characters): the error names the normal form to write instead. So two accepted identifiers
    are the same exactly when they look the same, and number reuse is judged on the normalized form.
    """
    # str.isprintable() is False exactly for the categories Cc Cf Cs Co Cn Zl Zp Zs (bar the ASCII space), a
    # superset of the invisible ones: a printable value has none, and is known so in one C call.
    if value.isprintable():
        bad = None
    elif value.isascii():
        bad = next((c for c in value if not c.isprintable()), None)
    else:
        bad = next((c for c in value if unicodedata.category(c) in _INVISIBLE_CATEGORIES), None)
    if bad is not None:
        raise PydanticCustomError(
            "identifier_invisible_character",
            "identifiers may not hold control, format or bidirectional characters: found U+{codepoint} ({name})",
            {"codepoint": f"{ord(bad):04X}", "name": unicodedata.name(bad, "a control character")},
        )
    if not value.isascii() and not unicodedata.is_normalized("NFKC", value):
        raise PydanticCustomError(
            "identifier_not_normalized",
            "identifiers are written in Unicode NFKC form (no full-width or compatibility characters): "
            "write {normalized}",
            {"normalized": repr(unicodedata.normalize("NFKC", value))},
        )
    return value


Code = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$"), AfterValidator(_identifier)
]
"""An identifier (certificate, serial and asset numbers, codes): non-empty, no leading or trailing whitespace,
no invisible characters, in Unicode NFKC form (see :func:`_identifier`)."""

Hex32 = Annotated[str, StringConstraints(pattern=HEX32_PATTERN)]
"""A 32-byte hash or id: ``0x`` + 64 lowercase hex digits."""

DecimalStr = Annotated[str, StringConstraints(pattern=r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")]
"""A decimal number as a string (D-SI ``decimalType``): ``"-0.072"``, ``"1.2480E-6"``."""

NonNegativeDecimalStr = Annotated[str, StringConstraints(pattern=r"^\+?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")]
"""A non-negative decimal string (D-SI ``uncertaintyValueType``)."""

CoverageFactorStr = Annotated[str, StringConstraints(pattern=r"^\+?([1-9]\d*\.\d*|[1-9]\d*)$")]
"""A coverage factor k ≥ 1 as a string (D-SI ``kValueType``): ``"2"``, ``"1.96"``."""

ProbabilityStr = Annotated[str, StringConstraints(pattern=r"^\+?(0(\.\d*)?|1(\.0*)?)$")]
"""A probability in [0, 1] without exponent (D-SI ``probabilityValueType``): ``"0.95"``."""

DsiUnit = Annotated[str, StringConstraints(max_length=500, pattern=r"^(\\[A-Za-z]+(\{[-+]?\d+(\.\d+)?\})?)+$")]
"""A D-SI unit string: ``\\kelvin``, ``\\kilogram\\metre\\tothe{-3}``, ``\\percent``, ``\\one``."""

Date = Annotated[dt.date, Strict()]
"""A calendar date; in JSON exactly ``YYYY-MM-DD``."""

Flag = Annotated[bool, Strict()]
"""A boolean; in JSON exactly ``true`` or ``false``."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
_MT_PART = r"[a-z0-9][a-z0-9!#$&^_.+-]*"
MediaType = Annotated[str, StringConstraints(pattern=rf"^{_MT_PART}/{_MT_PART}$")]
Usci = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")]
"""统一社会信用代码 (GB 32100-2015): 18 characters; the check character is verified by the record rules."""

_USCI_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCI_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


_USCI_VALUES = {c: i for i, c in enumerate(_USCI_CHARS)}


def is_valid_usci(code: str) -> bool:
    """Return whether ``code`` is a unified social credit code with a correct GB 32100-2015 check char."""
    if len(code) != 18 or not _USCI_VALUES.keys() >= set(code):
        return False
    total = sum(map(mul, map(_USCI_VALUES.__getitem__, code[:17]), _USCI_WEIGHTS))
    return _USCI_CHARS[(31 - total % 31) % 31] == code[17]


def _is_valid_usci_reference(code: str) -> bool:
    """The definition of :func:`is_valid_usci`, kept for its property test."""
    if len(code) != 18 or any(c not in _USCI_CHARS for c in code):
        return False
    total = sum(_USCI_CHARS.index(c) * w for c, w in zip(code[:17], _USCI_WEIGHTS, strict=True))
    return _USCI_CHARS[(31 - total % 31) % 31] == code[17]


_JJG_RE = re.compile(r"^JJG\s*\d")


# --- enums --------------------------------------------------------------------------------------------------


class Kind(StrEnum):
    """What the document is: 检定证书, 检定结果通知书, or 校准证书."""

    VERIFICATION = "VERIFICATION"
    VERIFICATION_FAIL_NOTICE = "VERIFICATION_FAIL_NOTICE"
    CALIBRATION = "CALIBRATION"

    @property
    def zh(self) -> str:
        """The kind's name in Chinese."""
        return _KIND_NAMES[self][0]

    @property
    def en(self) -> str:
        """The kind's name in English."""
        return _KIND_NAMES[self][1]


_KIND_NAMES = {
    Kind.VERIFICATION: ("检定证书", "verification certificate"),
    Kind.VERIFICATION_FAIL_NOTICE: ("检定结果通知书", "verification result notice"),
    Kind.CALIBRATION: ("校准证书", "calibration certificate"),
}


class Role(StrEnum):
    """Signatory roles: 检定员/校准员 (PERFORMER), 核验员 (CHECKER), 批准人 (APPROVER)."""

    PERFORMER = "PERFORMER"
    CHECKER = "CHECKER"
    APPROVER = "APPROVER"


#: Every role, in declaration order (iterating an Enum class builds a generator each time: this is read per record).
ROLES: tuple[Role, ...] = tuple(Role)


class Conclusion(StrEnum):
    """The conformity conclusion: 合格 (PASS) or 不合格 (FAIL)."""

    PASS = "PASS"  # noqa: S105 - a conclusion, not a password
    FAIL = "FAIL"


class Adjustment(StrEnum):
    """Whether a result was taken before or after adjustment (调整前/调整后)."""

    BEFORE = "BEFORE"
    AFTER = "AFTER"


# --- parts --------------------------------------------------------------------------------------------------


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantity(_Part):
    """A value with its D-SI unit, e.g. an MPE half-width ``{"value": "0.5", "unit": "\\\\percent"}``."""

    value: DecimalStr
    unit: DsiUnit


class Dates(_Part):
    """The certificate's dates.

    Order: receipt ≤ performance_begin ≤ performance_end ≤ issue_date, and performance_end < valid_until.
    """

    receipt_date: Date | None = None
    performance_begin: Date
    performance_end: Date
    issue_date: Date
    valid_until: Date | None = None


class Component(_Part):
    """One piece of an item that is a set (a weight set, a set of gauge blocks)."""

    name: Text
    serial_number: Code | None = None
    manufacturer: Text | None = None
    model: Text | None = None
    asset_number: Code | None = None


class Item(_Part):
    """The instrument verified or calibrated."""

    name: Text
    category_code: Code = Field(description="Instrument category code (强检目录 or the lab's scope).")
    manufacturer: Text | None = None
    model: Text | None = None
    serial_number: Code | None = Field(default=None, description="Manufacturer's serial number (出厂编号).")
    asset_number: Code | None = Field(default=None, description="Customer's asset/equipment number.")
    accuracy_class: Text | None = None
    mpe: Quantity | None = Field(default=None, description="Maximum permissible error, symmetric half-width.")
    measuring_range: Text | None = None
    components: tuple[Component, ...] = ()


class Customer(_Part):
    """The customer (委托方) and, for verification, whether the instrument is under 强制检定."""

    name: Text
    usci: Usci | None = Field(default=None, description="统一社会信用代码 (18 characters).")
    address: Text | None = None
    mandatory_verification: Flag | None = Field(default=None, description="强检; required for verification.")
    use: Text | None = Field(default=None, description="The instrument's use, e.g. 贸易结算.")


class Lab(_Part):
    """The issuing lab. ``lab_id`` is what the chain knows; with ``code``, ``lab_id == lab_id(code)``."""

    lab_id: Hex32
    code: Code | None = Field(default=None, description="Stable lab code the lab id is derived from.")
    name: Text
    authorization_number: Code | None = Field(default=None, description="授权证书号 (verification).")
    accreditation_number: Code | None = Field(default=None, description="E.g. CNAS L1234.")
    address: Text | None = None
    country_code: CountryCode | None = None


class Person(_Part):
    """A signatory. Persons are the same person when their ``id`` (or, lacking ids, their ``name``) match."""

    name: Text
    role: Role
    id: Code | None = Field(default=None, description="E.g. the person's 检定员证 number or staff number.")


class Method(_Part):
    """The regulation or standard followed: ``{"reference": "JJG 443-2023", "clause": "7.3"}``."""

    reference: Code | None = Field(default=None, description="JJG/JJF/ISO/GB number; JJG for verification.")
    title: Text | None = None
    clause: Text | None = None


class Condition(_Part):
    """One environmental or influence condition, e.g. ambient temperature."""

    name: Text
    value: DecimalStr
    unit: DsiUnit
    expanded_uncertainty: NonNegativeDecimalStr | None = None
    coverage_factor: CoverageFactorStr | None = None


class Interval(_Part):
    """A coverage interval ``[min, max]`` of a measured value, in the value's unit, with its coverage
    probability when stated (D-SI ``coverageInterval``)."""

    min: DecimalStr
    max: DecimalStr
    coverage_probability: ProbabilityStr | None = None


class Result(_Part):
    """One measurement result: value, unit and (for calibration, mandatory) expanded uncertainty U with k."""

    quantity: Text
    value: DecimalStr
    unit: DsiUnit
    expanded_uncertainty: NonNegativeDecimalStr | None = Field(default=None, description="U, in ``unit``.")
    coverage_factor: CoverageFactorStr | None = Field(default=None, description="k.")
    coverage_probability: ProbabilityStr | None = Field(default=None, description="p.")
    distribution: Code | None = None
    standard_uncertainty: NonNegativeDecimalStr | None = Field(
        default=None, description="u, in ``unit``, where the lab states a standard uncertainty (D-SI standardMU)."
    )
    coverage_interval: Interval | None = Field(
        default=None, description="The coverage interval, where the lab states one (D-SI coverageInterval)."
    )
    reference_value: Quantity | None = Field(default=None, description="Value of the standard (标准值).")
    indicated_value: Quantity | None = Field(default=None, description="Indication of the item (示值).")
    adjustment: Adjustment | None = None


class StandardUncertainty(_Part):
    """The expanded uncertainty of a reference standard, for TUR checks."""

    expanded_uncertainty: NonNegativeDecimalStr
    unit: DsiUnit
    coverage_factor: CoverageFactorStr | None = None


class StandardUsed(_Part):
    """A reference standard used, with the traceability link: the number and digest of its own certificate."""

    name: Text
    serial_number: Code | None = None
    manufacturer: Text | None = None
    model: Text | None = None
    accuracy_class: Text | None = None
    certificate_number: Code | None = Field(default=None, description="Number of the standard's certificate.")
    certificate_digest: Hex32 | None = Field(default=None, description="Digest of that certificate.")
    issuing_lab_id: Hex32 | None = None
    issuing_lab_name: Text | None = None
    valid_until: Date | None = None
    uncertainty: StandardUncertainty | None = None
    mpe: Quantity | None = None
    in_validity_range: Flag | None = Field(
        default=None, description="Whether the standard was used within its certificate's validity (DCC hashType)."
    )
    traceable: Flag | None = Field(
        default=None, description="Whether the standard's certificate states metrological traceability."
    )


class Replaces(_Part):
    """The certificate this one substitutes (代替证书): its number and certificate digest."""

    certificate_number: Code
    certificate_digest: Hex32


class OriginalDocument(_Part):
    """The original PDF or DCC XML, bound by its plain SHA-256."""

    media_type: MediaType
    sha256: Hex32


# --- the record ---------------------------------------------------------------------------------------------


class CertificateRecord(_Part):
    """A certificate record, the object that is canonicalized, digested, signed and anchored.

    Construct it with keyword arguments (Python values) or with :func:`record_from_json` (JSON). Both run the
    kind rules; a violation raises :class:`pydantic.ValidationError` here and
    :class:`~tracecert.certificate.errors.RecordInvalid` from :func:`record_from_json`.
    """

    schema_version: Literal["tracecert/1"]
    kind: Kind
    certificate_number: Code
    dates: Dates
    item: Item
    customer: Customer
    lab: Lab
    persons: tuple[Person, ...] = Field(min_length=1)
    method: Method
    conditions: tuple[Condition, ...] = ()
    results: tuple[Result, ...] = ()
    standards_used: tuple[StandardUsed, ...] = ()
    conclusion: Conclusion | None = None
    decision_rule: Text | None = None
    traceability_statement: Text | None = None
    replaces: Replaces | None = None
    original_document: OriginalDocument | None = None
    remarks: Text | None = None

    # A record is immutable (frozen, and so are its parts): its canonical bytes and digest are computed once, on
    # first use. model_copy would carry them over to a changed copy, so it drops them.

    @cached_property
    def canonical(self) -> bytes:
        """``JCS(record_to_json(record))``: the bytes that are digested (see :mod:`tracecert.certificate.canonical`)."""
        return compute_canonical_record(self)

    @cached_property
    def digest(self) -> bytes:
        """The 32-byte certificate digest ``SHA-256(CERTIFICATE_DOMAIN || canonical)``."""
        return digest_canonical_record(self.canonical)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> CertificateRecord:
        """A copy (pydantic's), without the cached canonical bytes and digest of the original."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("canonical", None)
        copied.__dict__.pop("digest", None)
        return copied

    @model_validator(mode="after")
    def _check_rules(self) -> CertificateRecord:
        violations = [e.to_dict() for e in _rule_violations(self)]
        if violations:
            summary = "; ".join(f"{v['field']}: {v['message']} [{v['rule']}]" for v in violations)
            ctx = {"summary": summary, "violations": violations}
            raise PydanticCustomError("record_rules", "{summary}", ctx)
        return self


def _rule_violations(r: CertificateRecord) -> list[FieldError]:
    out: list[FieldError] = []

    def bad(field: str, rule: str, message: str) -> None:
        out.append(FieldError(field, rule, message))

    verification = r.kind in (Kind.VERIFICATION, Kind.VERIFICATION_FAIL_NOTICE)

    # dates
    d = r.dates
    if d.receipt_date is not None and d.receipt_date > d.performance_begin:
        bad("dates.receipt_date", "date_order", "receipt date is after the performance begin date")
    if d.performance_begin > d.performance_end:
        bad("dates.performance_end", "date_order", "performance ends before it begins")
    if d.issue_date < d.performance_end:
        bad("dates.issue_date", "date_order", "issue date is before the performance end date")
    if d.valid_until is not None and d.valid_until <= d.performance_end:
        bad("dates.valid_until", "date_order", "valid_until must be after the performance end date")

    # kind rules
    if r.kind is Kind.VERIFICATION:
        if d.valid_until is None:
            bad("dates.valid_until", "required_for_kind", "a VERIFICATION states its validity date")
        if r.conclusion is not Conclusion.PASS:
            bad("conclusion", "conclusion_for_kind", "a VERIFICATION certificate has the conclusion PASS")
        if not r.standards_used:
            bad("standards_used", "required_for_kind", "a VERIFICATION lists its standards")
        for i, s in enumerate(r.standards_used):
            if s.certificate_number is None:
                bad(
                    f"standards_used.{i}.certificate_number",
                    "required_for_kind",
                    "each standard used in verification names its own certificate (traceability link)",
                )
    elif r.kind is Kind.VERIFICATION_FAIL_NOTICE:
        if d.valid_until is not None:
            bad("dates.valid_until", "forbidden_for_kind", "a failed instrument gets no validity date")
        if r.conclusion is not Conclusion.FAIL:
            bad("conclusion", "conclusion_for_kind", "a VERIFICATION_FAIL_NOTICE has the conclusion FAIL")
    else:  # CALIBRATION
        if not r.results:
            bad("results", "required_for_kind", "a CALIBRATION certificate has at least one result")
        for i, res in enumerate(r.results):
            if res.expanded_uncertainty is None and res.standard_uncertainty is None:
                bad(
                    f"results.{i}.expanded_uncertainty",
                    "required_for_kind",
                    "every CALIBRATION result states its uncertainty (expanded U, or standard u)",
                )
        if r.conclusion is not None and r.decision_rule is None:
            bad(
                "decision_rule",
                "required_with_conclusion",
                "a conformity statement on a calibration needs the decision rule (ISO/IEC 17025 7.8.6)",
            )

    if verification:
        if r.method.reference is None or not _JJG_RE.match(r.method.reference):
            bad("method.reference", "jjg_method", "verification follows a JJG verification regulation")
        if r.lab.authorization_number is None:
            bad("lab.authorization_number", "required_for_kind", "verification needs an authorization")
        if r.customer.mandatory_verification is None:
            bad(
                "customer.mandatory_verification",
                "required_for_kind",
                "verification states whether the instrument is under mandatory verification (强检)",
            )
        roles = {p.role for p in r.persons}
        for role in ROLES:
            if role not in roles:
                bad("persons", "missing_signatory", f"verification needs a {role.value} signatory")

    # every kind
    if r.method.reference is None and r.method.title is None:
        bad("method", "reference_or_title", "a method has a reference (standard number) or a title")
    seen: dict[str, tuple[int, Role]] = {}
    for i, p in enumerate(r.persons):
        key = f"id:{p.id}" if p.id is not None else f"name:{p.name}"
        if key in seen:
            bad(
                f"persons.{i}",
                "distinct_signatories",
                f"person {p.name!r} already signs as {seen[key][1].value} (persons.{seen[key][0]})",
            )
        else:
            seen[key] = (i, p.role)
    for i, res in enumerate(r.results):
        if res.expanded_uncertainty is not None and res.coverage_factor is None:
            bad(f"results.{i}.coverage_factor", "required_with_uncertainty", "U needs k")
        if res.coverage_probability is not None and res.expanded_uncertainty is None:
            bad(f"results.{i}.expanded_uncertainty", "required_with_probability", "p is stated without U")
    if r.item.serial_number is None and r.item.asset_number is None:
        if not r.item.components:
            bad(
                "item.serial_number",
                "item_identification",
                "an item has a serial number, an asset number, or components that each have a serial number",
            )
        for i, c in enumerate(r.item.components):
            if c.serial_number is None and c.asset_number is None:
                bad(
                    f"item.components.{i}.serial_number",
                    "item_identification",
                    "a component of an unnumbered set has its own serial or asset number",
                )
    if r.lab.code is not None and from_hex(r.lab.lab_id) != lab_id(r.lab.code):
        bad("lab.lab_id", "lab_id_mismatch", "lab_id is not lab_id(code)")
    if r.customer.usci is not None and not is_valid_usci(r.customer.usci):
        bad("customer.usci", "usci_checksum", "the unified social credit code's check character is wrong")
    for i, s in enumerate(r.standards_used):
        if s.valid_until is not None and s.valid_until < d.performance_end:
            bad(
                f"standards_used.{i}.valid_until",
                "standard_expired",
                "the standard's certificate expired before the work was finished",
            )
        if s.in_validity_range is False:
            bad(
                f"standards_used.{i}.in_validity_range",
                "standard_expired",
                "the standard was used outside its certificate's validity",
            )
        if s.traceable is False:
            bad(
                f"standards_used.{i}.traceable",
                "standard_not_traceable",
                "a standard used must be metrologically traceable (its certificate says it is not)",
            )
    for i, res in enumerate(r.results):
        ci = res.coverage_interval
        if ci is not None and Decimal(ci.min) > Decimal(ci.max):
            bad(f"results.{i}.coverage_interval", "interval_order", "the interval's min is above its max")
    return out


# --- JSON in ------------------------------------------------------------------------------------------------

_RULE_NAMES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "literal_error": "unsupported_value",
}


def validation_errors(error: ValidationError) -> list[FieldError]:
    """Translate a pydantic ``ValidationError`` on a record into :class:`FieldError` items (dotted paths).

    Rule names: ``required``, ``unknown_field``, ``unsupported_value``, the record rules (``date_order``,
    ``required_for_kind``, ...) and otherwise pydantic's error type (``string_pattern_mismatch``, ...).
    """
    out: list[FieldError] = []
    for err in error.errors(include_url=False):
        prefix = [str(p) for p in err["loc"]]
        if err["type"] == "record_rules":
            for v in err.get("ctx", {}).get("violations", []):
                field = ".".join([*prefix, v["field"]]) if prefix else v["field"]
                out.append(FieldError(field, v["rule"], v["message"]))
            continue
        field = ".".join(prefix) or "(record)"
        out.append(FieldError(field, _RULE_NAMES.get(err["type"], err["type"]), err["msg"]))
    return out


def record_from_json(data: bytes | str | Mapping[str, Any]) -> CertificateRecord:
    """Parse and validate a record from JSON text or an already-parsed JSON object.

    Raises:
        RecordInvalid: not JSON, not an object, or the record breaks the model or a rule of its kind; each
            entry of ``errors`` names the field (dotted path) and the rule.
    """
    # One pass of the C encoder, in the JCS layout, is the text pydantic validates and, for a record in normal
    # form (as registries and bundles hold them), its canonical bytes, so the record is not written out again for
    # its digest. Whatever fails takes the reference path, which gives the same errors.
    try:
        doc = dict(data) if isinstance(data, Mapping) else parse_json(data)
        if type(doc) is not dict:
            return _record_from_json_reference(data)
        text = jcs_layout(doc)
        record = CertificateRecord.model_validate_json(text)
    except (CanonicalizationFailed, TypeError, ValueError):  # ValidationError among them
        return _record_from_json_reference(data)
    canonical = canonical_if_normal(record, doc, text)
    if canonical is not None:
        record.__dict__["canonical"] = canonical  # the cached property, from the same pass
    return record


def _record_from_json_reference(data: bytes | str | Mapping[str, Any]) -> CertificateRecord:
    """The definition of :func:`record_from_json`: the property tests hold the fast path equal to it."""
    try:
        if isinstance(data, Mapping):
            text = json.dumps(dict(data), ensure_ascii=False, allow_nan=False)
        else:
            parse_json(data)  # strict: duplicate keys and NaN are refused before pydantic sees the text
            text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except (CanonicalizationFailed, TypeError, ValueError) as e:
        raise RecordInvalid("record is not strict JSON", [FieldError("(record)", "json", str(e))]) from e
    try:
        return CertificateRecord.model_validate_json(text)
    except ValidationError as e:
        raise RecordInvalid("certificate record is invalid", validation_errors(e)) from e
