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

import bisect
import datetime as dt
import hashlib
import heapq
import json
import logging
import math
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError

from registry.db import Certificate, FindingRow, FraudSignal, Lab, LifecycleOp, OperationKind, OperationState
from tracecert.chain.types import Activity
from tracecert.human import CHINA_HOURS

__all__ = [
    "FINDINGS",
    "SCAN_SPACING",
    "Finding",
    "IncrementalScans",
    "Thresholds",
    "finding_key",
    "record",
    "regulated_labs",
    "scan",
]

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


#: Certificates read at a time. A scan keeps, beyond one chunk, only what its detectors count: the sequence numbers
#: of the certificates in each group (8 bytes each); digests are read back for the groups found anomalous. The
#: worker scans each lab's window every minute: keeping every record read (about 11 KB each parsed) had its memory
#: grow with the ledger (issue 15: 1 GB at 150,000 certificates).
_CHUNK = 500


@dataclass(slots=True)
class _Row:
    seq: int
    digest: str
    lab_id: str
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
    the lab's authorization on chain no longer covers.

    The certificates are read in chunks of :data:`_CHUNK` in acceptance order; what is kept between chunks is
    what the detectors count, so the memory a scan takes does not follow the size of the period scanned."""
    t = thresholds or Thresholds()
    wanted = None if labs is None else {lab.lower() for lab in labs}
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(Certificate.issue_date >= since.isoformat())
    if until is not None:
        where.append(Certificate.issue_date <= until.isoformat())
    columns = (
        Certificate.seq,
        Certificate.digest,
        Certificate.lab_id,
        Certificate.kind,
        Certificate.serial_number,
        Certificate.issue_date,
        Certificate.accepted_at,
        Certificate.record_json,
    )
    with core.sessions() as s:
        lab_codes = dict(s.execute(select(Lab.lab_id, Lab.code)).all())
        signals = _signals(s, wanted, since, until)
    tally = _Tally(t, lab_codes, chain)
    found: list[Finding] = []
    # Lab by lab (each walks the index of its certificates in acceptance order), or all in acceptance order.
    for lab_where in [None] if wanted is None else [Certificate.lab_id == lab for lab in sorted(wanted)]:
        after = -1
        if lab_where is not None and where:
            # Where the lab's certificates of the period begin (ix_certificates_lab_issue): not every older one of
            # the lab walked to get there. Whatever the period holds has this acceptance number or a later one.
            with core.sessions() as s:
                first = s.scalar(select(func.min(Certificate.seq)).where(lab_where, *where))
            if first is None:
                continue
            after = first - 1
        while True:
            chosen = [*where, Certificate.seq > after] + ([] if lab_where is None else [lab_where])
            query = select(*columns).where(*chosen).order_by(Certificate.seq).limit(_CHUNK)
            with core.sessions() as s:
                chunk = [
                    _Row(seq, d, lab, kind, serial, dt.date.fromisoformat(issue), _china_day(accepted), json.loads(rec))
                    for seq, d, lab, kind, serial, issue, accepted, rec in s.execute(query)
                ]
                tally.cite(s, chunk)
            for r in chunk:
                found.extend(tally.add(r))
            if len(chunk) < _CHUNK:
                break
            after = chunk[-1].seq
            del chunk  # not held while the next one is read
    with core.sessions() as s:
        found.extend(tally.groups(s))
    findings = [*found, *signals]
    return sorted(findings, key=lambda f: (f.severity != "ERROR", f.code, f.lab_id, f.digests))


def regulated_labs(core: Any, regulator_address: str) -> list[str]:
    """The labs onboarded with this registry that the regulator is over, on chain now."""
    with core.sessions() as s:
        labs = list(s.scalars(select(Lab.lab_id).order_by(Lab.lab_id)))
    return [lab for lab in labs if core.regulator_covers(regulator_address, lab)]


def record(core: Any, findings: Iterable[Finding]) -> dict[str, dt.datetime]:
    """Keep each finding once (by :func:`finding_key`; a group's finding brought up to date as its group grows);
    return when each was first seen, this one or an earlier scan."""
    found = {finding_key(f): f for f in findings}
    if not found:
        return {}
    try:
        return _record(core, found)
    except IntegrityError:  # another scan (the worker's, a regulator's) kept some of them meanwhile: theirs stand
        return _record(core, found)


def _record(core: Any, found: dict[str, Finding]) -> dict[str, dt.datetime]:
    with core.sessions.begin() as s:
        rows = s.execute(
            select(FindingRow.key, FindingRow.first_seen, FindingRow.evidence).where(FindingRow.key.in_(found))
        ).all()
        known = {key: first_seen for key, first_seen, _ in rows}
        now = dt.datetime.now(dt.UTC)
        for key, _, evidence in rows:  # a group grown since: the same finding, brought up to date in place
            f = found[key]
            if f.code in GROUP_IDENTITY and evidence != f.evidence:
                s.execute(
                    update(FindingRow)
                    .where(FindingRow.key == key)
                    .values(digests=list(f.digests), evidence=f.evidence)
                )
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


#: The most certificates a group's finding names (its evidence's ``count`` says how many the group has).
GROUP_LISTED = 1_000
#: What identifies a group's finding besides its code and lab: the group itself, whose certificates grow through
#: its day (the same finding, kept up to date, not a new one at every scan).
GROUP_IDENTITY: dict[str, tuple[str, ...]] = {
    "BACKDATING_BURST": ("sent",),
    "STANDARD_OVERUSE": ("standard", "work_date"),
    "SIGNER_OVERUSE": ("performer", "work_date"),
}


def finding_key(f: Finding) -> str:
    """A finding's identity, SHA-256 of ``code|...``: for a group's finding its lab and the group (a standard or a
    performer and a day, a day of sending: :data:`GROUP_IDENTITY`), whatever certificates it has come to hold; for
    the others its sorted certificates, hashed digest by digest."""
    key = hashlib.sha256(f.code.encode())
    identity = GROUP_IDENTITY.get(f.code)
    if identity is not None:
        for part in (f.lab_id, *(str(f.evidence.get(name, "")) for name in identity)):
            key.update(b"|" + part.encode())
        return key.hexdigest()
    for digest in sorted(f.digests):
        key.update(b"|" + digest.encode())
    return key.hexdigest()


#: A lab's scan starts again no sooner than this many times as long as its last one took: however large a lab's
#: window has grown, its scans take at most about a tenth of the worker's time (a scan of a lab's 30 days reads all
#: of them: in the soak, 150,000 certificates each minute, half the worker's time at the end).
SCAN_SPACING = 10.0


class IncrementalScans:
    """Scans as certificates arrive: the anchoring worker notes each lab whose batch it anchored; at most every
    ``interval`` seconds per lab (and :data:`SCAN_SPACING` times as long as its last scan took), the lab's
    certificates issued in the last ``window_days`` are scanned (with the chain) and what is found is kept
    (:func:`record`). A scan that fails is logged, never in the worker's way."""

    def __init__(self, core: Any, *, interval: float = 60.0, window_days: int = 30) -> None:
        self.core, self.interval, self.window_days = core, interval, window_days
        self._due: set[str] = set()
        self._last: dict[str, float] = {}
        #: How long each lab's last scan took, in seconds.
        self.took: dict[str, float] = {}
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
        due = [
            lab
            for lab in noted
            if now - self._last.get(lab, -math.inf) >= max(self.interval, SCAN_SPACING * self.took.get(lab, 0.0))
        ]
        if due:
            self._thread = threading.Thread(target=self._scan, args=(due,), name="incremental-scans", daemon=True)
            self._thread.start()

    def _scan(self, labs: list[str]) -> None:
        from tracecert.verification.chainview import CachedChainView, LiveChainView

        for lab in labs:
            with self._lock:
                self._due.discard(lab)
            self._last[lab] = started = time.monotonic()
            since = dt.datetime.now(_CHINA).date() - dt.timedelta(days=self.window_days)
            try:
                chain = CachedChainView(LiveChainView(self.core.chain), max(self.interval, 1.0))
                record(self.core, scan(self.core, labs=[lab], since=since, chain=chain))
            except Exception:  # a scan is advice: the worker's anchoring must go on whatever it meets
                logger.exception("incremental scan of lab %s failed; the next anchoring retries it", lab)
                with self._lock:
                    self._due.add(lab)
            finally:
                self.took[lab] = time.monotonic() - started


# ------------------------------------------------------------------------------------------------ detectors


def _seqs() -> array[int]:
    return array("q")


class _Tally:
    """The detectors over a stream of certificates: :meth:`add` yields what one certificate shows alone and counts
    it in its groups (by sequence number); :meth:`groups` yields the groups found anomalous once all are read."""

    def __init__(self, t: Thresholds, lab_codes: dict[str, str], chain: Any) -> None:
        self.t, self.lab_codes, self.chain = t, lab_codes, chain
        #: Per cited standard's certificate digest: the day its revocation took effect, and its customer.
        self.revoked: dict[str, dt.date] = {}
        self.owners: dict[str, tuple[str | None, str | None]] = {}
        self._cited: set[str] = set()
        #: (lab, day sent) -> sequence numbers sent late, and the oldest issue date among them.
        self.bursts: dict[tuple[str, dt.date], tuple[array[int], list[dt.date]]] = {}
        #: (standard, work day) -> lab -> sequence numbers; (lab, performer, work day) -> sequence numbers.
        self.by_standard: dict[tuple[str, dt.date], dict[str, array[int]]] = defaultdict(dict)
        self.by_signer: dict[tuple[str, str, dt.date], array[int]] = defaultdict(_seqs)
        #: hash of (lab, results) -> the sequence number, or numbers, of the certificates with them (the exact key
        #: is read again for the candidates: a hash may join two groups), and the digests replaced by a certificate
        #: of the period. Most results are a certificate's own: one number, not an array, for those.
        self.copies: dict[int, int | array[int]] = {}
        self.replaced: set[str] = set()
        self.answers: dict[tuple[str, str, int, dt.date], tuple[bool, bool]] = {}

    def cite(self, s: Any, rows: list[_Row]) -> None:
        """Read the revocations and owners of the standards ``rows`` cite that earlier chunks did not."""
        new = {
            std["certificate_digest"].lower() for r in rows for std in _standards(r) if std.get("certificate_digest")
        } - self._cited
        self._cited |= new
        self.revoked.update(_revocations(s, new))
        self.owners.update(_owners(s, new))

    def add(self, r: _Row) -> Iterable[Finding]:
        """What ``r`` shows alone; ``r`` counted in its groups."""
        yield from self._backdating(r)
        self._overuse(r)
        yield from _standards_used(r, self.revoked, self.owners, self.lab_codes)
        yield from _calibration(r)
        self._copies(r)
        if self.chain is not None:
            yield from self._authorization(r)

    def groups(self, s: Any) -> Iterable[Finding]:
        """The groups found anomalous, with their certificates' digests (read once for all the groups: a
        certificate in several is one string)."""
        t = self.t
        flagged: list[tuple[str, str, array[int], dict[str, Any]]] = []
        for (lab, day), (seqs, oldest) in self.bursts.items():
            if len(seqs) >= t.burst_count:
                evidence = {"sent": day.isoformat(), "count": len(seqs), "oldest_issue_date": oldest[0].isoformat()}
                flagged.append(("BACKDATING_BURST", lab, seqs, evidence))
        for (standard, day), per_lab in self.by_standard.items():
            count = sum(len(seqs) for seqs in per_lab.values())
            if count > t.standard_per_day:
                evidence = {"standard": standard, "work_date": day.isoformat(), "count": count}
                flagged += [
                    ("STANDARD_OVERUSE", lab, per_lab[lab], evidence | {"limit": t.standard_per_day})
                    for lab in sorted(per_lab)
                ]
        for (lab, person, day), seqs in self.by_signer.items():
            if len(seqs) > t.signer_per_day:
                evidence = {"performer": person, "work_date": day.isoformat(), "count": len(seqs)}
                flagged.append(("SIGNER_OVERUSE", lab, seqs, evidence | {"limit": t.signer_per_day}))
        # A group names at most GROUP_LISTED certificates, its first ones (its evidence counts them all): a busy
        # day's group would otherwise hold, and keep on disk, every certificate of the day.
        listed = [(code, lab, seqs[:GROUP_LISTED], evidence) for code, lab, seqs, evidence in flagged]
        names = _Digests(s, [seqs for _, _, seqs, _ in listed])
        for (code, lab, seqs, evidence), (_, _, whole, _) in zip(listed, flagged, strict=True):
            if len(whole) > len(seqs):
                evidence = evidence | {"listed": len(seqs)}
            yield Finding(code, lab, tuple(sorted(names[seq] for seq in seqs)), evidence)
        del names
        yield from self._copied(s)

    def _backdating(self, r: _Row) -> Iterable[Finding]:
        t = self.t
        lag = (r.sent - r.issue).days
        if lag > t.backdate_days:
            yield Finding(
                "BACKDATED",
                r.lab_id,
                (r.digest,),
                {"issue_date": r.issue.isoformat(), "sent": r.sent.isoformat(), "days": lag},
            )
        if lag >= t.burst_lag_days:
            seqs, oldest = self.bursts.setdefault((r.lab_id, r.sent), (_seqs(), [r.issue]))
            seqs.append(r.seq)
            oldest[0] = min(oldest[0], r.issue)

    def _overuse(self, r: _Row) -> None:
        work = r.work
        for std in _standards(r):
            key = (std.get("certificate_digest") or "").lower() or f"serial:{std.get('serial_number')}"
            self.by_standard[(key, work)].setdefault(r.lab_id, _seqs()).append(r.seq)
        for person in r.record.get("persons") or []:
            if person.get("role") == "PERFORMER":
                self.by_signer[(r.lab_id, person.get("id") or person.get("name") or "", work)].append(r.seq)

    def _copies(self, r: _Row) -> None:
        # A replacement repeats the results of the certificate it corrects (a serial number fixed, say): the two are
        # one instrument's, so the replaced one is left out (once every certificate is read: it may come later).
        self.replaced.add(str((r.record.get("replaces") or {}).get("certificate_digest", "")).lower())
        results = _results(r.record)
        if len(results) >= self.t.copied_min_results:
            key = hash((r.lab_id, results))
            same = self.copies.setdefault(key, r.seq)
            if isinstance(same, array):
                same.append(r.seq)
            elif same != r.seq:
                self.copies[key] = array("q", (same, r.seq))

    def _copied(self, s: Any) -> Iterable[Finding]:
        t = self.t
        # Each certificate is one instrument at most: a group with fewer certificates cannot be copied results.
        candidates = sorted(
            seq
            for same in self.copies.values()
            for seqs in [same if isinstance(same, array) else (same,)]
            if len(seqs) >= t.copied_min_instruments
            for seq in seqs
        )
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[str, str]]] = defaultdict(list)
        columns = Certificate.digest, Certificate.lab_id, Certificate.serial_number, Certificate.record_json
        for i in range(0, len(candidates), _IN_LIST):
            chosen = Certificate.seq.in_(candidates[i : i + _IN_LIST])
            for digest, lab, serial, record in s.execute(select(*columns).where(chosen).order_by(Certificate.seq)):
                if digest not in self.replaced:
                    groups[(lab, _results(json.loads(record)))].append((digest, serial))
        for (lab, results), same in groups.items():
            instruments = {serial or digest for digest, serial in same}
            if len(instruments) >= t.copied_min_instruments:
                yield Finding(
                    "COPIED_RESULTS",
                    lab,
                    tuple(sorted(digest for digest, _ in same)),
                    {"instruments": sorted(instruments), "results": [v for _q, v in results]},
                )

    def _authorization(self, r: _Row) -> Iterable[Finding]:
        category = str((r.record.get("item") or {}).get("category_code"))
        activity = Activity.CALIBRATE if r.kind == "CALIBRATION" else Activity.VERIFY
        key = (r.lab_id, category, int(activity), r.issue)
        if key not in self.answers:
            t = int(dt.datetime.combine(r.issue + dt.timedelta(days=1), dt.time(), _CHINA).timestamp()) - 1
            lab = bytes.fromhex(r.lab_id[2:])
            state = self.chain.lab_at(lab, t)
            authorized = state is not None and state.authorized
            self.answers[key] = (authorized, authorized and self.chain.is_authorized(lab, category, activity, t))
        authorized, in_scope = self.answers[key]
        where = {"issue_date": r.issue.isoformat(), "category_code": category, "activity": activity.name}
        if not authorized:
            yield Finding("OUTSIDE_AUTHORIZATION", r.lab_id, (r.digest,), where)
        elif not in_scope:
            yield Finding("OUTSIDE_SCOPE", r.lab_id, (r.digest,), where)


def _results(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A record's results as the copies are compared: (quantity, value) in order."""
    return tuple((str(x.get("quantity")), str(x.get("value"))) for x in record.get("results") or [])


#: Digests or sequence numbers per ``IN`` list.
_IN_LIST = 5_000


class _Digests:
    """The digests of the certificates numbered in ``groups`` (each in increasing order), read in acceptance order
    and looked up by number."""

    def __init__(self, s: Any, groups: list[array[int]]) -> None:
        self.seqs = array("q")
        for seq in heapq.merge(*groups):  # no list of every number: the groups may name every certificate
            if not self.seqs or self.seqs[-1] != seq:
                self.seqs.append(seq)
        self.digests: list[str] = []
        for i in range(0, len(self.seqs), _IN_LIST):
            chosen = Certificate.seq.in_(self.seqs[i : i + _IN_LIST].tolist())
            found = dict(s.execute(select(Certificate.seq, Certificate.digest).where(chosen)).all())
            self.digests += [found[seq] for seq in self.seqs[i : i + _IN_LIST]]

    def __getitem__(self, seq: int) -> str:
        return self.digests[bisect.bisect_left(self.seqs, seq)]


def _standards_used(
    r: _Row,
    revoked: dict[str, dt.date],
    owners: dict[str, tuple[str | None, str | None]],
    lab_codes: dict[str, str],
) -> Iterable[Finding]:
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


def _calibration(r: _Row) -> Iterable[Finding]:
    if r.kind != "CALIBRATION":
        return
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
