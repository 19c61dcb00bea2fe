"""Traceability: a certificate's chain of standards walked up to a national metrology institute, link by link.

Each standard's certificate is found by the digest the record gives and verified with the same engine, as of the
end of the work, recursively: a depth bound stops the walk, and a visited set of digests and instrument identities
finds cycles (digests cannot loop, instruments can). Each link is judged against the record that used it: found,
valid, the same instrument, valid during the work, small enough an uncertainty. The chain comes back as a tree.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.model import CertificateRecord, Conclusion, Kind, Result, StandardUsed
from tracecert.chain.types import LabKind
from tracecert.verification.chainview import LabState
from tracecert.verification.evidence import Evidence, Policy
from tracecert.verification.report import CHECKS, Report, TraceNode

__all__ = ["LINK_CHECKS", "FindStandard", "VerifyStandard", "check_trace", "item_keys"]

#: The traceability checks judged link by link (each standard's certificate against the certificate that used it).
LINK_CHECKS = (
    "TRACE_STANDARD_FOUND",
    "TRACE_STANDARD_VALID",
    "TRACE_SERIAL_MATCH",
    "TRACE_VALID_DURING_WORK",
    "TRACE_UNCERTAINTY",
    "TRACE_NO_CYCLE",
)
#: A standard's certificate found by its digest (in sources never trusted: the caller compares digests).
FindStandard = Callable[[bytes], Evidence | None]
#: A standard's certificate verified as of a time (unix seconds), on a path that has met a set of digests and
#: instrument identities, at a depth.
VerifyStandard = Callable[[Evidence, int, frozenset[bytes], int], Report]


def check_trace(
    report: Report,
    record: CertificateRecord,
    digest: bytes,
    lab: LabState | None,
    visited: frozenset[bytes],
    depth: int,
    policy: Policy,
    find_standard: FindStandard,
    verify_standard: VerifyStandard,
) -> frozenset[bytes]:
    """The traceability checks of a certificate at ``depth`` on a path that has met ``visited`` (digests and
    instrument identities): TRACE_DEPTH, the link-by-link checks (:data:`LINK_CHECKS`, each standard's certificate
    verified with ``verify_standard`` and judged against this record), TRACE_REACHES_NMI. Sets the report's
    ``trace`` (this certificate's node, its standards' subtrees below) and ``subtree``.

    Returns what is above this certificate: every digest and instrument identity the path (``visited``) was
    compared with here and further up (its standards' digests, the instruments the record names and the ones their
    certificates are about, and their own upstreams). ``visited`` changes the outcome only through these: on a
    path that meets none of them, the checks come out the same (what
    :class:`~tracecert.verification.engine.ChecksMemo` relies on to reuse one walk for many certificates). The
    report's ``subtree`` is this certificate's own identities and its upstream.
    """
    node = TraceNode(
        to_hex(digest),
        record.certificate_number,
        record.lab.lab_id,
        report.certificate.get("lab_name_on_chain") or record.lab.name,
        lab.kind.name if lab else None,
        None,
    )
    report.trace = node
    own = frozenset({digest} | item_keys(record))
    if lab is not None and lab.kind is LabKind.NMI:
        node.note = "national metrology institute: the chain ends here"
        for code in (*LINK_CHECKS, "TRACE_DEPTH"):
            report.add(code, True, "issued by an NMI", zh="由国家计量院出具")
        report.add("TRACE_REACHES_NMI", True, "issued by an NMI", zh="由国家计量院出具")
        report.subtree = own
        return frozenset()
    upstream: set[bytes] = set()
    failures: dict[str, list[tuple[str, str]]] = {}
    reaches_nmi = bool(record.standards_used)
    if depth >= policy.max_depth:
        report.add(
            "TRACE_DEPTH",
            False,
            f"deeper than {policy.max_depth} links",
            zh=f"溯源链超过 {policy.max_depth} 级",
        )
        reaches_nmi = False
    else:
        report.add("TRACE_DEPTH", True)
    if not record.standards_used:
        _fail(failures, "TRACE_STANDARD_FOUND", "the record lists no standards used", "证书未列出所用计量标准")
    for i, standard in enumerate(record.standards_used if depth < policy.max_depth else ()):
        where = (f"standards_used.{i} ({standard.name})", f"第 {i + 1} 个计量标准（{standard.name}）")
        child = TraceNode(
            standard.certificate_digest,
            standard.certificate_number,
            standard.issuing_lab_id,
            standard.issuing_lab_name,
            None,
            None,
            standard=standard.name,
        )
        node.children.append(child)
        if standard.certificate_digest is None:
            _fail(
                failures,
                "TRACE_STANDARD_FOUND",
                f"{where[0]}: no certificate digest",
                f"{where[1]}：未给出证书摘要",
            )
            child.note, reaches_nmi = "no certificate digest (traceability link missing)", False
            continue
        parent_digest = from_hex(standard.certificate_digest)
        instrument = _standard_key(standard)
        upstream.add(parent_digest)
        if instrument is not None:
            upstream.add(instrument)
        if parent_digest in visited or (instrument is not None and instrument in visited):
            _fail(
                failures,
                "TRACE_NO_CYCLE",
                f"{where[0]}: {standard.certificate_digest} again",
                f"{where[1]}：证书再次出现",
            )
            child.note, reaches_nmi = "cycle", False
            continue
        evidence = find_standard(parent_digest)
        if evidence is None:
            _fail(failures, "TRACE_STANDARD_FOUND", f"{where[0]}: certificate not found", f"{where[1]}：找不到其证书")
            child.note, reaches_nmi = "certificate not found", False
            continue
        if evidence.digest != parent_digest:
            _fail(
                failures,
                "TRACE_STANDARD_FOUND",
                f"{where[0]}: the bundle found is another one",
                f"{where[1]}：找到的是另一份证书",
            )
            child.note, reaches_nmi = "bundle does not match the digest", False
            continue
        standard_items = item_keys(evidence.record) if evidence.record is not None else set()
        upstream |= standard_items
        if standard_items & visited:
            # The standard's own instrument is already on this path (whatever the entry says): circular.
            _fail(
                failures,
                "TRACE_NO_CYCLE",
                f"{where[0]}: its instrument appears again",
                f"{where[1]}：其器具再次出现",
            )
            child.note, reaches_nmi = "cycle", False
            continue
        _, work_end = policy.day(record.dates.performance_end)
        parent = verify_standard(evidence, work_end - 1, visited, depth + 1)
        upstream |= parent.subtree
        child.verdict = parent.verdict
        if parent.trace is not None:
            child.lab_name, child.lab_kind = parent.trace.lab_name, parent.trace.lab_kind
            child.children = parent.trace.children
            child.note = parent.trace.note
        assert parent.trace is not None or parent.unknown
        parent_codes = parent.codes  # read once: the report is complete (and often a cached one, read again and again)
        _link_checks(record, standard, evidence.record, parent, where, failures, policy, parent_codes)
        if "TRACE_REACHES_NMI" in parent_codes or parent.unknown:
            reaches_nmi = False
        if parent_codes & {"TRACE_NO_CYCLE"}:
            _fail(failures, "TRACE_NO_CYCLE", f"{where[0]}: cycle above", f"{where[1]}：上游有循环")
    for code in LINK_CHECKS:
        problems = failures.get(code, [])
        report.add(code, not problems, "; ".join(en for en, _ in problems), zh="；".join(zh for _, zh in problems))
    report.add(
        "TRACE_REACHES_NMI",
        reaches_nmi,
        "" if reaches_nmi else "at least one branch does not end at a national metrology institute",
        zh="" if reaches_nmi else "至少有一条溯源分支未到达国家计量院",
    )
    report.subtree = own | upstream
    return frozenset(upstream)


def _link_checks(
    child: CertificateRecord,
    standard: StandardUsed,
    parent: CertificateRecord | None,
    parent_report: Report,
    where: tuple[str, str],
    failures: dict[str, list[tuple[str, str]]],
    policy: Policy,
    parent_codes: set[str],
) -> None:
    """One link: the certificate of ``standard`` (``parent``, verified in ``parent_report``, whose failed checks are
    ``parent_codes``) against the record ``child`` that used it; failures are noted in ``failures`` under their
    check."""
    # Any failure of the standard's certificate (its own links included, so a broken link anywhere above
    # reaches this certificate) except its expiry, which TRACE_VALID_DURING_WORK judges against the work dates,
    # and unpublished batch contents, which say nothing of the standard (that warning stays on its node).
    own = parent_codes - {"NOT_EXPIRED", "TRACE_REACHES_NMI", "TRACE_NO_CYCLE", "BATCH_PUBLISHED"}
    if parent_report.unknown or own:
        names = "、".join(CHECKS[c].zh for c in sorted(own)) or "未知证书"
        _fail(
            failures,
            "TRACE_STANDARD_VALID",
            f"{where[0]}: its certificate is {parent_report.verdict.value} ({', '.join(sorted(own)) or 'unknown'})",
            f"{where[1]}：其证书无效（{names}）",
        )
    if parent is None:
        return
    if parent.kind is Kind.VERIFICATION_FAIL_NOTICE or parent.conclusion is Conclusion.FAIL:
        _fail(
            failures,
            "TRACE_STANDARD_VALID",
            f"{where[0]}: its certificate says the standard failed (conclusion FAIL)",
            f"{where[1]}：其证书结论为不合格",
        )
    if standard.serial_number is None:
        _fail(
            failures,
            "TRACE_SERIAL_MATCH",
            f"{where[0]}: the standard's serial number is not stated, so it cannot be matched",
            f"{where[1]}：未注明计量标准的编号，无法核对",
        )
    serials = {parent.item.serial_number, parent.item.asset_number} | {c.serial_number for c in parent.item.components}
    if standard.serial_number is not None and standard.serial_number not in serials:
        _fail(
            failures,
            "TRACE_SERIAL_MATCH",
            f"{where[0]}: serial {standard.serial_number!r}, its certificate says {parent.item.serial_number!r}",
            f"{where[1]}：编号 {standard.serial_number}，其证书上为 {parent.item.serial_number}",
        )
    begin, _ = policy.day(child.dates.performance_begin)
    _, end = policy.day(child.dates.performance_end)
    valid = parent.dates.valid_until is None or policy.day(parent.dates.valid_until)[1] >= end
    issued_before = policy.day(parent.dates.issue_date)[0] <= begin
    lifecycle = {"NOT_REVOKED", "NOT_SUBSTITUTED", "NOT_EXPIRED"} & parent_codes
    if not valid or not issued_before or lifecycle:
        why = []
        if not valid:
            why.append(f"expired {parent.dates.valid_until}")
        if not issued_before:
            why.append(f"issued {parent.dates.issue_date}, after the work began")
        why.extend(sorted(lifecycle))
        _fail(
            failures,
            "TRACE_VALID_DURING_WORK",
            f"{where[0]}: not valid from {child.dates.performance_begin} to {child.dates.performance_end} "
            f"({', '.join(why)})",
            f"{where[1]}：在 {child.dates.performance_begin} 至 {child.dates.performance_end} 期间不在有效期内",
        )
    problem = _uncertainty_problem(child, standard, parent, policy)
    if problem:
        _fail(failures, "TRACE_UNCERTAINTY", f"{where[0]}: {problem}", f"{where[1]}：不确定度不满足要求（{problem}）")


def _uncertainty_problem(
    child: CertificateRecord, standard: StandardUsed, parent: CertificateRecord, policy: Policy
) -> str | None:
    """What makes the standard's uncertainty too large for the work (TUR for a calibration, MPE ratio for a
    verification), or None."""
    parent_u = _largest_u(parent)
    if parent_u is None:
        return None if parent.kind is not Kind.CALIBRATION else "its certificate states no uncertainty"
    u_parent, unit = parent_u
    if child.kind is Kind.CALIBRATION:
        child_u = [(_expanded(r), r.unit) for r in child.results]
        same_unit = [u for u, un in child_u if u is not None and un == unit]
        if not same_unit:
            return None
        smallest = min(same_unit)
        if u_parent == 0 or smallest / u_parent >= policy.tur:
            return None
        ratio = smallest / u_parent
        return f"TUR {ratio:.2f} < {policy.tur} (child U {smallest} vs standard U {u_parent} {unit})"
    mpe = child.item.mpe
    if mpe is None or mpe.unit != unit or (limit := _dec(mpe.value)) is None:
        return None
    if u_parent <= abs(limit) / policy.mpe_ratio:
        return None
    return f"standard U {u_parent} {unit} > MPE/{policy.mpe_ratio} = {abs(limit) / policy.mpe_ratio}"


def _fail(failures: dict[str, list[tuple[str, str]]], code: str, en: str, zh: str) -> None:
    """Note a traceability problem under its check, in English and in Chinese."""
    failures.setdefault(code, []).append((en, zh))


def item_keys(record: CertificateRecord) -> set[bytes]:
    """An instrument's identities on a traceability path: an instrument met again means a loop. Serial numbers
    (the manufacturer's) stand alone; asset numbers are the owner's own, so they count with the owner (the
    customer): two owners' asset "001" are two instruments. Without any number, the certificate (lab and number)
    stands in."""
    item = record.item
    serials = {item.serial_number} | {c.serial_number for c in item.components}
    assets = {item.asset_number} | {c.asset_number for c in item.components}
    owner = record.customer.name.encode()
    found = {b"serial\x00" + n.encode() for n in serials if n}
    found |= {b"asset\x00" + owner + b"\x00" + n.encode() for n in assets if n}
    return found or {b"certificate\x00" + record.lab.lab_id.encode() + b"\x00" + record.certificate_number.encode()}


def _standard_key(standard: StandardUsed) -> bytes | None:
    if standard.serial_number is None:
        return None
    return b"serial\x00" + str(standard.serial_number).encode()


def _dec(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _expanded(result: Result) -> Decimal | None:
    """A result's expanded uncertainty U; for a result that states only a standard uncertainty u (D-SI
    standardMU), U = 2u, the coverage (about 95 %) the TUR rule compares at."""
    if result.expanded_uncertainty is not None:
        return _dec(result.expanded_uncertainty)
    u = _dec(result.standard_uncertainty)
    return 2 * u if u is not None else None


def _largest_u(record: CertificateRecord) -> tuple[Decimal, str] | None:
    found = [(_expanded(r), r.unit) for r in record.results]
    found = [(u, unit) for u, unit in found if u is not None]
    if not found:
        return None
    u, unit = max(found, key=lambda pair: pair[0])  # type: ignore[arg-type,return-value]
    return u, unit  # type: ignore[return-value]
