"""A ledger of certificates as a registry holds it, generated fast (rows written directly, not through HTTP), with
anomalies of every kind the scans look for planted at known places: the data of the scans' tests and of
``scripts/bench_scans.py``.

The clean part mirrors a city lab's practice: verifications of weighing instruments on work days, each performed by
one of four people with one of three reference standards (calibrated by the NMI, owned by the lab), issued the day
of the work or the next, sent for anchoring within two days, five results each with their own noise. Each lab
keeps its first ten days free of clean work; the anomalies are planted there, so that every certificate of a
planted anomaly is known and no clean one takes part in it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select

from registry.db import (
    Certificate,
    CertificateStatus,
    Citation,
    FraudSignal,
    Lab,
    LifecycleOp,
    OperationKind,
    OperationState,
)
from registry.scans import Thresholds
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex

__all__ = ["SCOPE", "LabRef", "LedgerChain", "Planted", "generate", "lab_refs"]

_CHINA = dt.timezone(dt.timedelta(hours=8))
_USCI = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_PLANT_DAYS = 10
#: The scope every lab of the ledger holds: the category its records use, verification and calibration.
SCOPE = {"0201": 3}  # Activity.VERIFY | Activity.CALIBRATE


@dataclass(frozen=True)
class LabRef:
    """A lab of the ledger: its id, code (USCI) and name."""

    lab_id: str
    code: str
    name: str


@dataclass
class Planted:
    """What the ledger holds: the clean certificates' digests, and each planted finding as (code, digests)."""

    clean: set[str] = field(default_factory=set)
    findings: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    #: The authorization every lab of the ledger is meant to hold (the NMI's from long before): from this moment
    #: on, for :data:`SCOPE`; what is issued before it or outside it is planted as such.
    authorized_from: int = 0

    @property
    def digests(self) -> set[str]:
        """Every certificate that takes part in a planted anomaly."""
        return {d for _code, ds in self.findings for d in ds}


def lab_refs(count: int, seed: int = 1) -> list[LabRef]:
    """``count`` labs with valid-looking unified social credit codes (region 3301xx)."""
    rng = random.Random(seed)
    labs = []
    for i in range(count):
        body = f"1233010{i % 10}47{rng.randrange(10**7):07d}"
        code = body + rng.choice(_USCI)
        labs.append(LabRef(to_hex(derive_lab_id(code)), code, f"示范计量检定所{i + 1:02d}"))
    return labs


class _Ledger:
    def __init__(self, core: Any, labs: Sequence[LabRef], start: dt.date, seed: int) -> None:
        self.core, self.labs, self.start = core, list(labs), start
        self.rng = random.Random(seed)
        self.rows: list[dict[str, Any]] = []
        self.citations: list[dict[str, str]] = []
        self.ops: list[dict[str, Any]] = []
        self.signals: list[dict[str, Any]] = []
        self.planted = Planted()
        self.serial = 0
        self.nmi = LabRef(to_hex(derive_lab_id("12100000400000624D")), "12100000400000624D", "中国计量科学研究院")

    # ---------------------------------------------------------------- records

    def digest(self) -> str:
        return "0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex()

    def standard(self, owner: LabRef, name: str, *, valid_until: dt.date) -> dict[str, Any]:
        """The NMI's calibration of ``owner``'s standard, added to the ledger; its ``standards_used`` entry."""
        self.serial += 1
        serial = f"STD-{self.serial:06d}"
        day = self.start - dt.timedelta(days=200)
        record = self.record(
            self.nmi,
            "CALIBRATION",
            f"NIM-{self.serial:06d}",
            serial,
            day,
            day,
            customer={"name": owner.name, "usci": owner.code},
            valid_until=valid_until,
            standards=[],
            performer="NIM-01",
        )
        digest = self.add(self.nmi, record, day)
        self.planted.clean.add(digest)
        return {
            "name": name,
            "serial_number": serial,
            "certificate_number": record["certificate_number"],
            "certificate_digest": digest,
            "issuing_lab_id": self.nmi.lab_id,
            "issuing_lab_name": self.nmi.name,
            "valid_until": valid_until.isoformat(),
        }

    def record(
        self,
        lab: LabRef,
        kind: str,
        number: str,
        serial: str,
        work: dt.date,
        issue: dt.date,
        *,
        standards: list[dict[str, Any]],
        performer: str,
        customer: dict[str, Any] | None = None,
        valid_until: dt.date | None = None,
        results: list[str] | None = None,
        mandatory: bool = True,
        category: str = "0201",
    ) -> dict[str, Any]:
        values = results or [f"{self.rng.uniform(-2, 2):.3f}" for _ in range(5)]
        record: dict[str, Any] = {
            "schema_version": "tracecert/1",
            "kind": kind,
            "certificate_number": number,
            "dates": {
                "receipt_date": work.isoformat(),
                "performance_begin": work.isoformat(),
                "performance_end": work.isoformat(),
                "issue_date": issue.isoformat(),
                "valid_until": (valid_until or work + dt.timedelta(days=364)).isoformat(),
            },
            "item": {
                "name": "电子计价秤",
                "category_code": category,
                "manufacturer": "某衡器有限公司",
                "model": "ACS-30",
                "serial_number": serial,
            },
            "customer": customer
            or {
                "name": "某农贸市场",
                "usci": "91330100MA2H00001X",
                "mandatory_verification": mandatory,
                "use": "贸易结算",
            },
            "lab": {"lab_id": lab.lab_id, "code": lab.code, "name": lab.name},
            "persons": [
                {"name": performer, "role": "PERFORMER", "id": performer},
                {"name": "核验员", "role": "CHECKER", "id": f"{lab.code[-4:]}-C"},
                {"name": "批准人", "role": "APPROVER", "id": f"{lab.code[-4:]}-A"},
            ],
            "method": {"reference": "JJG 539-2016", "title": "数字指示秤"},
            "results": [
                {"quantity": f"示值误差 ({w} kg)", "value": v, "unit": "\\\\gram"}
                for w, v in zip((1, 5, 10, 15, 30), values, strict=True)
            ],
            "standards_used": standards,
        }
        if kind == "VERIFICATION":
            record["conclusion"] = "PASS"
        return record

    def add(self, lab: LabRef, record: dict[str, Any], sent: dt.date) -> str:
        digest = self.digest()
        cited = {s["certificate_digest"] for s in record["standards_used"] if s.get("certificate_digest")}
        self.citations += [{"citing_digest": digest, "cited_digest": c} for c in sorted(cited)]
        accepted = dt.datetime.combine(sent, dt.time(10, self.rng.randrange(60)), _CHINA).astimezone(dt.UTC)
        self.rows.append(
            {
                "digest": digest,
                "lab_id": lab.lab_id,
                "certificate_number": record["certificate_number"],
                "kind": record["kind"],
                "category_code": record["item"]["category_code"],
                "serial_number": record["item"]["serial_number"],
                "issue_date": record["dates"]["issue_date"],
                "record_json": json.dumps(record, ensure_ascii=False, separators=(",", ":")),
                "key_id": "0x" + "00" * 32,
                "signature": "0x" + "00" * 64,
                "signed_by": "REGISTRY",
                "status": CertificateStatus.ANCHORED,
                "accepted_at": accepted,
                "anchored_at": accepted,
                "public": False,
            }
        )
        return digest

    def certificate(
        self,
        lab: LabRef,
        work: dt.date,
        *,
        standard: dict[str, Any],
        performer: str,
        issue_after: int = 0,
        sent_after: int = 0,
        **options: Any,
    ) -> str:
        self.serial += 1
        issue = work + dt.timedelta(days=issue_after)
        record = self.record(
            lab,
            options.pop("kind", "VERIFICATION"),
            f"JD-{self.serial:07d}",
            f"SN-{self.serial:07d}",
            work,
            issue,
            standards=[standard],
            performer=performer,
            **options,
        )
        return self.add(lab, record, issue + dt.timedelta(days=sent_after))

    def plant(self, code: str, digests: list[str] | str) -> None:
        if isinstance(digests, str):
            self.planted.findings.append((code, frozenset([digests])))
        else:
            self.planted.findings.append((code, frozenset(digests)))


def generate(
    core: Any,
    labs: Sequence[LabRef],
    *,
    certificates: int,
    today: dt.date,
    days: int = 90,
    seed: int = 1,
    thresholds: Thresholds | None = None,
) -> Planted:
    """Write about ``certificates`` clean certificates of ``labs`` over the ``days`` before ``today`` and one planted
    anomaly of every kind (per-certificate kinds several times) into ``core``'s database; return what was planted.
    Labs not yet in the database are added (without keys: the scans need none)."""
    t = thresholds or Thresholds()
    start = today - dt.timedelta(days=days)
    g = _Ledger(core, labs, start, seed)
    g.planted.authorized_from = int(dt.datetime.combine(start - dt.timedelta(days=5), dt.time(), _CHINA).timestamp())
    with core.sessions() as s:
        known = set(s.scalars(select(Lab.lab_id)))
    new_labs = [
        {"lab_id": lab.lab_id, "code": lab.code, "name": lab.name, "writer_address": "0x" + "00" * 20}
        for lab in [*labs, g.nmi]
        if lab.lab_id not in known
    ]
    standards = {
        lab.lab_id: [
            g.standard(lab, f"M1 等级砝码 {i + 1}", valid_until=today + dt.timedelta(days=700)) for i in range(3)
        ]
        for lab in labs
    }
    performers = {lab.lab_id: [f"{lab.code[-4:]}-P{i}" for i in range(4)] for lab in labs}
    work_days = [start + dt.timedelta(days=d) for d in range(_PLANT_DAYS, days)]
    per_lab_day = max(1, -(-certificates // (len(labs) * len(work_days))))  # at least ``certificates``
    per_lab_day = min(per_lab_day, 3 * (t.standard_per_day - 5), 4 * (t.signer_per_day - 5))
    for lab in labs:
        for day in work_days:
            for i in range(per_lab_day):
                digest = g.certificate(
                    lab,
                    day,
                    standard=standards[lab.lab_id][i % 3],
                    performer=performers[lab.lab_id][i % 4],
                    issue_after=g.rng.randrange(2),
                    sent_after=g.rng.randrange(3),
                )
                g.planted.clean.add(digest)
    _plant(g, labs, standards, performers, t, today)
    with core.sessions.begin() as s:
        if new_labs:
            s.execute(insert(Lab), new_labs)
        for i in range(0, len(g.rows), 5000):
            s.execute(insert(Certificate), g.rows[i : i + 5000])
        for i in range(0, len(g.citations), 5000):
            s.execute(insert(Citation), g.citations[i : i + 5000])
        if g.ops:
            s.execute(insert(LifecycleOp), g.ops)
        if g.signals:
            s.execute(insert(FraudSignal), g.signals)
    return g.planted


def _plant(
    g: _Ledger,
    labs: Sequence[LabRef],
    standards: dict[str, list[dict[str, Any]]],
    performers: dict[str, list[str]],
    t: Thresholds,
    today: dt.date,
) -> None:
    """One anomaly of every kind, on the first days of the period, which no clean certificate uses."""
    day = [g.start + dt.timedelta(days=d) for d in range(_PLANT_DAYS)]
    a, b = labs[0], labs[1 % len(labs)]
    std_a, people_a = standards[a.lab_id], performers[a.lab_id]
    # BACKDATED: sent 8..13 days after issue, a few a day, so that no day makes a burst.
    for i in range(6):
        lab = labs[i % len(labs)]
        g.plant(
            "BACKDATED",
            g.certificate(
                lab,
                day[i],
                standard=standards[lab.lab_id][0],
                performer=performers[lab.lab_id][0],
                sent_after=t.backdate_days + 1 + i,
            ),
        )
    # BACKDATING_BURST: one day, burst_count + 5 certificates issued 4..6 days before (each alone unremarkable).
    sent = day[6]
    lags = [t.burst_lag_days + 1 + i % 3 for i in range(t.burst_count + 5)]
    burst = [
        g.certificate(
            b,
            sent - dt.timedelta(days=lag),
            standard=standards[b.lab_id][1 + i % 2],
            performer=performers[b.lab_id][1 + i % 3],
            sent_after=lag,
        )
        for i, lag in enumerate(lags)
    ]
    g.plant("BACKDATING_BURST", burst)
    # STANDARD_OVERUSE: one standard on one day, past the limit, by performers who stay under theirs.
    overuse = [
        g.certificate(a, day[1], standard=std_a[2], performer=people_a[i % 4]) for i in range(t.standard_per_day + 10)
    ]
    g.plant("STANDARD_OVERUSE", overuse)
    # SIGNER_OVERUSE: one performer on one day, past the limit, with standards that stay under theirs.
    signer = [g.certificate(a, day[2], standard=std_a[i % 3], performer="加班员") for i in range(t.signer_per_day + 8)]
    g.plant("SIGNER_OVERUSE", signer)
    # STANDARD_EXPIRED: the standard's certificate ran out before the work.
    expired = g.standard(a, "过期砝码", valid_until=day[0] - dt.timedelta(days=30))
    for i in range(4):
        g.plant("STANDARD_EXPIRED", g.certificate(a, day[3 + i % 2], standard=expired, performer=people_a[i % 4]))
    # STANDARD_REVOKED: the standard's certificate was revoked (through the registry) before the work.
    revoked = g.standard(a, "撤销砝码", valid_until=today + dt.timedelta(days=300))
    g.ops.append(
        {
            "op": OperationKind.REVOKE,
            "lab_id": g.nmi.lab_id,
            "digest": revoked["certificate_digest"],
            "reason": 1,
            "effective_time": int(dt.datetime.combine(day[4], dt.time(), _CHINA).timestamp()),
            "requested_by": "LAB",
            "state": OperationState.DONE,
        }
    )
    for i in range(4):
        g.plant("STANDARD_REVOKED", g.certificate(a, day[5 + i % 2], standard=revoked, performer=people_a[i % 4]))
    # BORROWED_STANDARD: lab a uses a standard whose certificate names lab b as its customer.
    for i in range(3):
        g.plant("BORROWED_STANDARD", g.certificate(a, day[7], standard=standards[b.lab_id][i], performer=people_a[i]))
    # CALIBRATION_AS_VERIFICATION: calibrations of 强检 instruments.
    for i in range(5):
        g.plant(
            "CALIBRATION_AS_VERIFICATION",
            g.certificate(
                b, day[8], standard=standards[b.lab_id][0], performer=performers[b.lab_id][i % 4], kind="CALIBRATION"
            ),
        )
    # COPIED_RESULTS: four instruments, one set of results.
    copied = [
        g.certificate(
            b,
            day[9],
            standard=standards[b.lab_id][i % 3],
            performer=performers[b.lab_id][i],
            results=["0.512", "-0.114", "0.993", "1.207", "-0.731"],
        )
        for i in range(4)
    ]
    g.plant("COPIED_RESULTS", copied)
    # OUTSIDE_SCOPE: a category the lab's authorization does not list.
    for i in range(3):
        g.plant("OUTSIDE_SCOPE", g.certificate(a, day[8], standard=std_a[i], performer=people_a[i], category="JJG1036"))
    # OUTSIDE_AUTHORIZATION: work issued before the lab's authorization began.
    before = dt.date.fromtimestamp(g.planted.authorized_from) - dt.timedelta(days=10)
    for i in range(2):
        g.plant("OUTSIDE_AUTHORIZATION", g.certificate(a, before, standard=std_a[i], performer=people_a[i]))
    # NUMBER_REUSE: a number tried again for other content (the registry records the signal when it refuses).
    for i in range(3):
        existing = g.certificate(b, day[9], standard=standards[b.lab_id][1], performer=performers[b.lab_id][0])
        attempted = g.digest()
        number = next(json.loads(r["record_json"])["certificate_number"] for r in g.rows if r["digest"] == existing)
        g.signals.append(
            {
                "kind": "NUMBER_REUSE",
                "lab_id": b.lab_id,
                "certificate_number": number,
                "existing_digest": existing,
                "attempted_digest": attempted,
                "attempted_record": "{}",
                "created_at": dt.datetime.combine(day[9], dt.time(12, i), _CHINA).astimezone(dt.UTC),
            }
        )
        g.plant("NUMBER_REUSE", [existing, attempted])


class LedgerChain:
    """What the chain would answer about the ledger's labs: each authorized for :data:`SCOPE` from
    ``planted.authorized_from`` on, for the scans where no chain holds these labs; any other lab (the NMI) is
    answered authorized for what it does."""

    def __init__(self, planted: Planted, labs: Sequence[LabRef]) -> None:
        self.start = planted.authorized_from
        self.labs = {bytes.fromhex(lab.lab_id[2:]) for lab in labs}

    def _authorized(self, lab: bytes, t: int) -> bool:
        return lab not in self.labs or t >= self.start  # the NMI (not among the labs) is authorized throughout

    def lab_at(self, lab: bytes, t: int) -> Any:
        return SimpleNamespace(authorized=self._authorized(lab, t))

    def is_authorized(self, lab: bytes, category: str, activity: int, t: int) -> bool:
        if lab not in self.labs:  # the NMI, and labs the ledger did not make: authorized for what they do
            return True
        return self._authorized(lab, t) and (SCOPE.get(category, 0) & int(activity)) == int(activity)
