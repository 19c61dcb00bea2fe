"""Anomaly scans over the ledger (台账异常扫描): what a regulator should look at among the certificates of the labs
under it, each finding with its own code, severity, zh/en text and the evidence that triggered it.

The scans read the registry's own database (every certificate it accepted, private ones included) over a period,
in one pass. The rulebook refused, at acceptance, what was outside the lab's authorization or scope *then*; a
regulator may since have recorded an authorization that narrows the past (the latest one recorded that covers a
moment decides), so, given a chain view, the scans ask the chain once per lab, category, activity and issue day
whether the certificate is still covered. The thresholds are :class:`Thresholds`, each documented; a finding is a
reason to look, never a verdict: it changes no certificate's status and no lab's grade.

==========================  ========  =====================================================================
code                        severity  when
==========================  ========  =====================================================================
BACKDATED                   WARNING   accepted more than ``backdate_days`` days after its issue date
BACKDATING_BURST            ERROR     a lab sent ``burst_count`` or more certificates on one day, each issued
                                      ``burst_lag_days`` or more days before
STANDARD_OVERUSE            WARNING   one standard (its certificate's digest, else its serial) used for more than
                                      ``standard_per_day`` certificates on one work day
SIGNER_OVERUSE              WARNING   one performer of a lab on more than ``signer_per_day`` certificates on one
                                      work day
STANDARD_EXPIRED            ERROR     a standard used after its certificate's ``valid_until``
STANDARD_REVOKED            ERROR     a standard used on or after the day its certificate's revocation took effect
BORROWED_STANDARD           WARNING   a standard whose certificate (in this registry) names another customer
                                      than the lab using it
CALIBRATION_AS_VERIFICATION ERROR     a calibration of a 强检 instrument, or one that states a pass/fail
                                      conclusion (what only a verification may do)
COPIED_RESULTS              ERROR     the same ``copied_min_results`` or more result values, in the same order, on
                                      certificates of ``copied_min_instruments`` or more instruments of one lab (a
                                      certificate replaced by a correction counts with its replacement)
NUMBER_REUSE                ERROR     a certificate number tried again for other content (a fraud signal)
OUTSIDE_AUTHORIZATION       ERROR     no authorization of the lab covered the end of the issue day, as the chain has
                                      it now (an authorization recorded later may change the past: the latest one
                                      recorded that covers a moment decides)
OUTSIDE_SCOPE               ERROR     the authorization that covered it does not list the category and activity
==========================  ========  =====================================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from registry.db import Certificate, FindingRow, FraudSignal, Lab, LifecycleOp, OperationKind, OperationState
from tracecert.chain.types import Activity
from tracecert.human import CHINA_HOURS

__all__ = ["FINDINGS", "Finding", "IncrementalScans", "Thresholds", "finding_key", "record", "regulated_labs", "scan"]

_CHINA = dt.timezone(dt.timedelta(hours=CHINA_HOURS))
logger = logging.getLogger(__name__)

#: Every finding's severity and text (zh, en).
FINDINGS: dict[str, tuple[str, str, str]] = {
    "BACKDATED": (
        "WARNING",
        "签发日期远早于提交存证的日期（疑似倒签）",
        "issued long before it was sent for anchoring",
    ),
    "BACKDATING_BURST": (
        "ERROR",
        "同一天集中提交大量签发日期较早的证书",
        "a burst of certificates sent on one day for old dates",
    ),
    "STANDARD_OVERUSE": (
        "WARNING",
        "同一计量标准一天内使用次数超出合理范围",
        "one standard used more than plausible in a day",
    ),
    "SIGNER_OVERUSE": (
        "WARNING",
        "同一检定/校准人员一天内出具证书数超出合理范围",
        "one performer on more certificates a day than plausible",
    ),
    "STANDARD_EXPIRED": ("ERROR", "使用了证书已过有效期的计量标准", "a standard used after its certificate expired"),
    "STANDARD_REVOKED": ("ERROR", "使用了证书已被撤销的计量标准", "a standard used after its certificate was revoked"),
    "BORROWED_STANDARD": (
        "WARNING",
        "使用的计量标准属于其他单位（借用标准）",
        "a standard owned by someone else (borrowed)",
    ),
    "CALIBRATION_AS_VERIFICATION": ("ERROR", "以校准证书代替检定证书", "a calibration passed off as a verification"),
    "COPIED_RESULTS": (
        "ERROR",
        "不同器具的证书测量结果完全相同（疑似抄袭数据）",
        "identical results on certificates of different instruments",
    ),
    "NUMBER_REUSE": ("ERROR", "证书编号被重复用于其他内容", "a certificate number used again for other content"),
    "OUTSIDE_AUTHORIZATION": ("ERROR", "签发时机构不在授权有效期内", "issued outside the lab's authorization window"),
    "OUTSIDE_SCOPE": ("ERROR", "超出机构授权范围出具证书", "issued outside the lab's authorized scope"),
}


@dataclass(frozen=True)
class Thresholds:
    """What counts as implausible. Defaults chosen for a city lab's bench: a pressure or weighing standard serves
    at most about 15 minutes per instrument over a long day, a performer signs what one person can do."""

    backdate_days: int = 7  # the verifier's ANCHOR_LAG refuses past 14; a week is already unusual
    burst_count: int = 20
    burst_lag_days: int = 3
    standard_per_day: int = 60
    signer_per_day: int = 40
    copied_min_results: int = 3  # records with fewer results are not compared (short vectors repeat honestly)
    copied_min_instruments: int = 3


@dataclass(frozen=True)
class Finding:
    """One anomaly: its code, the lab, the certificates concerned and the evidence that triggered it."""

    code: str
    lab_id: str
    digests: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        """ERROR or WARNING."""
        return FINDINGS[self.code][0]

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with the finding's names."""
        severity, zh, en = FINDINGS[self.code]
        return {
            "code": self.code,
            "severity": severity,
            "zh": zh,
            "en": en,
            **asdict(self),
            "digests": list(self.digests),
        }


@dataclass
class _Row:
    digest: str
    lab_id: str
    number: str
    kind: str
    serial: str | None
    issue: dt.date
    sent: dt.date
    record: dict[str, Any]

    @property
    def work(self) -> dt.date:
        return _date((self.record.get("dates") or {}).get("performance_begin")) or self.issue


def scan(
    core: Any,
    *,
    labs: Iterable[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    thresholds: Thresholds | None = None,
    chain: Any = None,
) -> list[Finding]:
    """Every finding among the certificates of ``labs`` (all when None) issued within ``[since, until]``, ordered
    by severity, code and lab. With ``chain`` (a :class:`~tracecert.verification.chainview.ChainView`), also what
    the lab's authorization on chain no longer covers."""
    t = thresholds or Thresholds()
    query = select(
        Certificate.digest,
        Certificate.lab_id,
        Certificate.certificate_number,
        Certificate.kind,
        Certificate.serial_number,
        Certificate.issue_date,
        Certificate.accepted_at,
        Certificate.record_json,
    )
    wanted = None if labs is None else {lab.lower() for lab in labs}
    if wanted is not None:
        query = query.where(Certificate.lab_id.in_(sorted(wanted)))
    if since is not None:
        query = query.where(Certificate.issue_date >= since.isoformat())
    if until is not None:
        query = query.where(Certificate.issue_date <= until.isoformat())
    with core.sessions() as s:
        rows = [
            _Row(d, lab, num, kind, serial, dt.date.fromisoformat(issue), _china_day(accepted), json.loads(record))
            for d, lab, num, kind, serial, issue, accepted, record in s.execute(query)
        ]
        cited = {
            std["certificate_digest"].lower() for r in rows for std in _standards(r) if std.get("certificate_digest")
        }
        revoked = _revocations(s, cited)
        owners = _owners(s, cited)
        lab_codes = dict(s.execute(select(Lab.lab_id, Lab.code)).all())
        signals = _signals(s, wanted, since, until)
    findings = [
        *_backdating(rows, t),
        *_overuse(rows, t),
        *_standards_used(rows, revoked, owners, lab_codes),
        *_calibrations(rows),
        *_copies(rows, t),
        *signals,
        *(_authorization(rows, chain) if chain is not None else ()),
    ]
    return sorted(findings, key=lambda f: (f.severity != "ERROR", f.code, f.lab_id, f.digests))


def regulated_labs(core: Any, regulator_address: str) -> list[str]:
    """The labs onboarded with this registry that the regulator is over, on chain now."""
    with core.sessions() as s:
        labs = list(s.scalars(select(Lab.lab_id).order_by(Lab.lab_id)))
    return [lab for lab in labs if core.regulator_covers(regulator_address, lab)]


def record(core: Any, findings: Iterable[Finding]) -> dict[str, dt.datetime]:
    """Keep each finding once (by its code and certificates); return when each was first seen, this one or an
    earlier scan."""
    found = {finding_key(f): f for f in findings}
    if not found:
        return {}
    try:
        return _record(core, found)
    except IntegrityError:  # another scan (the worker's, a regulator's) kept some of them meanwhile: theirs stand
        return _record(core, found)


def _record(core: Any, found: dict[str, Finding]) -> dict[str, dt.datetime]:
    with core.sessions.begin() as s:
        known = dict(s.execute(select(FindingRow.key, FindingRow.first_seen).where(FindingRow.key.in_(found))).all())
        now = dt.datetime.now(dt.UTC)
        for key, f in found.items():
            if key not in known:
                s.add(
                    FindingRow(
                        key=key,
                        code=f.code,
                        lab_id=f.lab_id,
                        digests=list(f.digests),
                        evidence=f.evidence,
                        first_seen=now,
                    )
                )
                known[key] = now
    return known


def finding_key(f: Finding) -> str:
    """A finding's identity: SHA-256 of its code and its sorted certificates."""
    return hashlib.sha256("|".join([f.code, *sorted(f.digests)]).encode()).hexdigest()


class IncrementalScans:
    """Scans as certificates arrive: the anchoring worker notes each lab whose batch it anchored; at most every
    ``interval`` seconds per lab, the lab's certificates issued in the last ``window_days`` are scanned (with the
    chain) and what is found is kept (:func:`record`). A scan that fails is logged, never in the worker's way."""

    def __init__(self, core: Any, *, interval: float = 60.0, window_days: int = 30) -> None:
        self.core, self.interval, self.window_days = core, interval, window_days
        self._due: set[str] = set()
        self._last: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the worker notes while a scan thread takes

    def note(self, lab_id: str) -> None:
        """A batch of ``lab_id`` was anchored."""
        with self._lock:
            self._due.add(lab_id)

    def run(self, *, force: bool = False) -> None:
        """Scan the labs that are due: in a thread of its own, so that a long scan never holds up anchoring (one at
        a time); with ``force`` (tests, drain), every noted lab now, in this thread."""
        with self._lock:
            noted = sorted(self._due)
        if force:
            self._scan(noted)
            return
        if self._thread is not None and self._thread.is_alive():
            return
        now = time.monotonic()
        due = [lab for lab in noted if now - self._last.get(lab, -math.inf) >= self.interval]
        if due:
            self._thread = threading.Thread(target=self._scan, args=(due,), name="incremental-scans", daemon=True)
            self._thread.start()

    def _scan(self, labs: list[str]) -> None:
        from tracecert.verification.chainview import CachedChainView, LiveChainView

        for lab in labs:
            with self._lock:
                self._due.discard(lab)
            self._last[lab] = time.monotonic()
            since = dt.datetime.now(_CHINA).date() - dt.timedelta(days=self.window_days)
            try:
                chain = CachedChainView(LiveChainView(self.core.chain), max(self.interval, 1.0))
                record(self.core, scan(self.core, labs=[lab], since=since, chain=chain))
            except Exception:  # a scan is advice: the worker's anchoring must go on whatever it meets
                logger.exception("incremental scan of lab %s failed; the next anchoring retries it", lab)
                with self._lock:
                    self._due.add(lab)


# ------------------------------------------------------------------------------------------------ detectors


def _backdating(rows: list[_Row], t: Thresholds) -> Iterable[Finding]:
    bursts: dict[tuple[str, dt.date], list[_Row]] = defaultdict(list)
    for r in rows:
        lag = (r.sent - r.issue).days
        if lag > t.backdate_days:
            yield Finding(
                "BACKDATED",
                r.lab_id,
                (r.digest,),
                {"issue_date": r.issue.isoformat(), "sent": r.sent.isoformat(), "days": lag},
            )
        if lag >= t.burst_lag_days:
            bursts[(r.lab_id, r.sent)].append(r)
    for (lab, day), burst in bursts.items():
        if len(burst) >= t.burst_count:
            yield Finding(
                "BACKDATING_BURST",
                lab,
                tuple(sorted(r.digest for r in burst)),
                {
                    "sent": day.isoformat(),
                    "count": len(burst),
                    "oldest_issue_date": min(r.issue for r in burst).isoformat(),
                },
            )


def _overuse(rows: list[_Row], t: Thresholds) -> Iterable[Finding]:
    by_standard: dict[tuple[str, dt.date], list[_Row]] = defaultdict(list)
    by_signer: dict[tuple[str, str, dt.date], list[_Row]] = defaultdict(list)
    for r in rows:
        for std in _standards(r):
            key = (std.get("certificate_digest") or "").lower() or f"serial:{std.get('serial_number')}"
            by_standard[(key, r.work)].append(r)
        for person in r.record.get("persons") or []:
            if person.get("role") == "PERFORMER":
                by_signer[(r.lab_id, person.get("id") or person.get("name") or "", r.work)].append(r)
    for (standard, day), used in by_standard.items():
        if len(used) > t.standard_per_day:
            for lab in sorted({r.lab_id for r in used}):
                yield Finding(
                    "STANDARD_OVERUSE",
                    lab,
                    tuple(sorted(r.digest for r in used if r.lab_id == lab)),
                    {
                        "standard": standard,
                        "work_date": day.isoformat(),
                        "count": len(used),
                        "limit": t.standard_per_day,
                    },
                )
    for (lab, person, day), signed in by_signer.items():
        if len(signed) > t.signer_per_day:
            yield Finding(
                "SIGNER_OVERUSE",
                lab,
                tuple(sorted(r.digest for r in signed)),
                {"performer": person, "work_date": day.isoformat(), "count": len(signed), "limit": t.signer_per_day},
            )


def _standards_used(
    rows: list[_Row],
    revoked: dict[str, dt.date],
    owners: dict[str, tuple[str | None, str | None]],
    lab_codes: dict[str, str],
) -> Iterable[Finding]:
    for r in rows:
        for i, std in enumerate(_standards(r)):
            digest = (std.get("certificate_digest") or "").lower()
            until = _date(std.get("valid_until"))
            where = {
                "standard": f"standards_used.{i}",
                "name": std.get("name"),
                "serial": std.get("serial_number"),
                "work_date": r.work.isoformat(),
            }
            if until is not None and r.work > until:
                yield Finding("STANDARD_EXPIRED", r.lab_id, (r.digest,), {**where, "valid_until": until.isoformat()})
            if digest in revoked and r.work >= revoked[digest]:
                yield Finding(
                    "STANDARD_REVOKED",
                    r.lab_id,
                    (r.digest,),
                    {**where, "certificate_digest": digest, "revoked_from": revoked[digest].isoformat()},
                )
            if digest in owners:
                usci, name = owners[digest]
                lab = r.record.get("lab") or {}
                mine = {lab_codes.get(r.lab_id), lab.get("code")} - {None}
                if usci is not None and usci not in mine and name != lab.get("name"):
                    yield Finding(
                        "BORROWED_STANDARD",
                        r.lab_id,
                        (r.digest,),
                        {**where, "certificate_digest": digest, "owner": name, "owner_usci": usci},
                    )


def _calibrations(rows: list[_Row]) -> Iterable[Finding]:
    for r in rows:
        if r.kind != "CALIBRATION":
            continue
        mandatory = bool((r.record.get("customer") or {}).get("mandatory_verification"))
        conclusion = r.record.get("conclusion")
        if mandatory or conclusion:
            yield Finding(
                "CALIBRATION_AS_VERIFICATION",
                r.lab_id,
                (r.digest,),
                {
                    "mandatory_verification": mandatory,
                    "conclusion": conclusion,
                    "category_code": (r.record.get("item") or {}).get("category_code"),
                },
            )


def _copies(rows: list[_Row], t: Thresholds) -> Iterable[Finding]:
    # A replacement repeats the results of the certificate it corrects (a serial number fixed, say): the two are one
    # instrument's, so the replaced one is left out.
    replaced = {str((r.record.get("replaces") or {}).get("certificate_digest", "")).lower() for r in rows}
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[_Row]] = defaultdict(list)
    for r in rows:
        if r.digest in replaced:
            continue
        results = tuple((str(x.get("quantity")), str(x.get("value"))) for x in r.record.get("results") or [])
        if len(results) >= t.copied_min_results:
            groups[(r.lab_id, results)].append(r)
    for (lab, results), same in groups.items():
        instruments = {r.serial or r.digest for r in same}
        if len(instruments) >= t.copied_min_instruments:
            yield Finding(
                "COPIED_RESULTS",
                lab,
                tuple(sorted(r.digest for r in same)),
                {"instruments": sorted(instruments), "results": [v for _q, v in results]},
            )


def _authorization(rows: list[_Row], chain: Any) -> Iterable[Finding]:
    answers: dict[tuple[str, str, int, dt.date], tuple[bool, bool]] = {}
    for r in rows:
        category = str((r.record.get("item") or {}).get("category_code"))
        activity = Activity.CALIBRATE if r.kind == "CALIBRATION" else Activity.VERIFY
        key = (r.lab_id, category, int(activity), r.issue)
        if key not in answers:
            t = int(dt.datetime.combine(r.issue + dt.timedelta(days=1), dt.time(), _CHINA).timestamp()) - 1
            lab = bytes.fromhex(r.lab_id[2:])
            state = chain.lab_at(lab, t)
            authorized = state is not None and state.authorized
            answers[key] = (authorized, authorized and chain.is_authorized(lab, category, activity, t))
        authorized, in_scope = answers[key]
        where = {"issue_date": r.issue.isoformat(), "category_code": category, "activity": activity.name}
        if not authorized:
            yield Finding("OUTSIDE_AUTHORIZATION", r.lab_id, (r.digest,), where)
        elif not in_scope:
            yield Finding("OUTSIDE_SCOPE", r.lab_id, (r.digest,), where)


def _signals(s: Any, labs: set[str] | None, since: dt.date | None, until: dt.date | None) -> list[Finding]:
    query = select(FraudSignal).where(FraudSignal.kind == "NUMBER_REUSE")
    if labs is not None:
        query = query.where(FraudSignal.lab_id.in_(sorted(labs)))
    found = []
    for sig in s.scalars(query):
        day = _china_day(sig.created_at)
        if (since and day < since) or (until and day > until):
            continue
        found.append(
            Finding(
                "NUMBER_REUSE",
                sig.lab_id,
                (sig.existing_digest, sig.attempted_digest),
                {"certificate_number": sig.certificate_number, "signal": sig.id},
            )
        )
    return found


# ------------------------------------------------------------------------------------------------ helpers


def _standards(r: _Row) -> list[dict[str, Any]]:
    return list(r.record.get("standards_used") or [])


def _revocations(s: Any, digests: set[str]) -> dict[str, dt.date]:
    """The day each cited certificate's revocation took effect (revocations put on chain through the registry)."""
    if not digests:
        return {}
    ops = s.execute(
        select(LifecycleOp.digest, LifecycleOp.effective_time, LifecycleOp.block_timestamp).where(
            LifecycleOp.digest.in_(sorted(digests)),
            LifecycleOp.op == OperationKind.REVOKE,
            LifecycleOp.state == OperationState.DONE,
        )
    ).all()
    return {d: dt.datetime.fromtimestamp(effective or when or 0, _CHINA).date() for d, effective, when in ops}


def _owners(s: Any, digests: set[str]) -> dict[str, tuple[str | None, str | None]]:
    """The customer (USCI, name) of each cited certificate this registry holds."""
    if not digests:
        return {}
    found = {}
    for digest, record in s.execute(
        select(Certificate.digest, Certificate.record_json).where(Certificate.digest.in_(sorted(digests)))
    ):
        customer = json.loads(record).get("customer") or {}
        found[digest] = (customer.get("usci"), customer.get("name"))
    return found


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _china_day(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(_CHINA).date()
