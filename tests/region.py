"""A regulator's region as a registry holds it, generated fast (rows written directly with SQLAlchemy Core, not
through HTTP): enterprises of Zhejiang (330000) with valid unified social credit codes, their sites in several
districts, their registered instruments (强检器具备案) of ten categories, and the certificates of those
instruments — with the ground truth of each instrument returned beside it, so that a test can recount a region's
coverage without reading the database through :mod:`registry.coverage`. The data of
``tests/registry/test_coverage.py`` and ``scripts/bench_coverage.py``.

Each instrument follows one story, drawn by the seed:

- ``regular``: verified before or soon after it was registered and again about when due (on time, a few days
  early — so that two verifications overlap — or a little late, leaving a gap), up to the last day;
- ``lapsed``: the same, stopping some day in the past (overdue since its last validity ran out);
- ``failed``: verified, then a verification result notice (检定结果通知书, failed) after a pass;
- ``fail_then_pass``: a failed verification, a pass some days later, then verified when due;
- ``revoked``: its latest pass revoked by its lab (a lifecycle operation DONE on chain, the day taken from its
  effective time or else its block's timestamp), some of them renewed after;
- ``never``: never verified (some with a calibration certificate, or a verification not yet on chain, which do not
  count).

Certificates link to their instrument by manufacturer and serial number, or (for an instrument with an asset number,
a quarter of the time) only by the owner's USCI and asset number. Some certificates state no validity date (the
instrument's period then decides). Some certificates do not count and are there to be ignored: calibrations,
verifications not anchored, revocations not done, certificates of instruments nobody registered. A few enterprises
are outside the province (Jiangsu), and a few instruments are not under mandatory verification.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, text

import registry.coverage  # noqa: F401 - defines the register's tables (enterprises, sites, instruments)
from registry.db import Base, CertificateStatus
from registry.instruments import manufacturer_key
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.model import is_valid_usci

__all__ = [
    "CATEGORIES",
    "DISTRICTS",
    "CertificateTruth",
    "InstrumentTruth",
    "Region",
    "generate_region",
]

CHINA = dt.timezone(dt.timedelta(hours=8))
#: The categories (names the register accepts: :func:`tracecert.instruments.register_category`), each with its use,
#: verification period in months, and manufacturers.
CATEGORIES: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("燃油加油机", "TRADE", 6, ("Tatsuno (Suzhou) Co.", "正星科技股份有限公司")),
    ("电子计价秤", "TRADE", 12, ("某衡器有限公司", "上海友声衡器有限公司")),
    ("水表", "TRADE", 72, ("宁波水表股份有限公司",)),
    ("燃气表", "TRADE", 120, ("浙江苍南仪表集团股份有限公司",)),
    ("血压计", "MEDICAL", 12, ("欧姆龙(大连)有限公司", "鱼跃医疗")),
    ("压力表", "SAFETY", 6, ("红旗仪表有限公司", "布莱迪仪器仪表")),
    ("呼出气体酒精含量检测仪", "SAFETY", 12, ("Dräger Safety",)),
    ("体温计", "MEDICAL", 12, ("江苏华安科研仪器",)),
    ("声级计", "ENVIRONMENT", 12, ("杭州爱华仪器有限公司",)),
    ("机动车测速仪", "SAFETY", 12, ("成都安德科技",)),
)
#: Districts (and two cities' own codes) of Zhejiang where enterprises are registered and sites are.
DISTRICTS: tuple[int, ...] = (
    330102, 330105, 330106, 330108, 330109, 330110,  # 杭州
    330201, 330203, 330205, 330212,  # 宁波
    330302, 330303,  # 温州
    330402, 330502, 330602, 330702, 330802, 330902, 331002, 331102,
    330100, 330300,  # a city's own code: its region is the city itself
)  # fmt: skip
#: Outside the province: instruments there never count for Zhejiang.
ELSEWHERE: tuple[int, ...] = (320102, 320106)
_STORIES = ("regular", "lapsed", "failed", "fail_then_pass", "revoked", "never")
_STORY_WEIGHTS = (62, 14, 7, 4, 6, 7)
_USCI_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCI_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def usci(first17: str) -> str:
    """``first17`` completed with its GB 32100-2015 check character (``tracecert_app.story.usci`` computed, not
    searched: thousands are made here)."""
    total = sum(_USCI_CHARS.index(c) * w for c, w in zip(first17, _USCI_WEIGHTS, strict=True))
    return first17 + _USCI_CHARS[(31 - total % 31) % 31]


@dataclass(frozen=True)
class CertificateTruth:
    """A certificate of an instrument as the generator made it.

    ``revoked`` is the day (in China) its revocation took effect if a revocation of it is DONE, else None (a
    revocation not done is not one). ``link`` says how it names the instrument: ``serial`` (manufacturer and serial
    number) or ``asset`` (the owner's USCI and asset number only)."""

    digest: str
    kind: str
    status: str
    issued: dt.date
    valid_until: dt.date | None
    revoked: dt.date | None
    link: str


@dataclass(frozen=True)
class InstrumentTruth:
    """A registered instrument as the generator made it, with its certificates (oldest first)."""

    id: int
    usci: str
    enterprise: str
    site_id: str
    site: str
    region: int
    category: str
    mandatory: bool
    period_months: int
    registered: dt.date
    serial_number: str
    asset_number: str | None
    story: str
    certificates: tuple[CertificateTruth, ...]


@dataclass
class Region:
    """What the generator wrote: the enterprises' USCIs, each instrument with its certificates, row counts."""

    today: dt.date
    enterprises: list[str] = field(default_factory=list)
    instruments: list[InstrumentTruth] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months (the day clamped to the month's length)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class _Writer:
    def __init__(self, rng: random.Random, today: dt.date, record_bytes: int) -> None:
        self.rng, self.today = rng, today
        self.padding = f',"padding":"{"x" * record_bytes}"' if record_bytes else ""
        self.lab = ("12330100470001234X", "杭州市计量检定测试院")
        self.lab_id = to_hex(derive_lab_id(self.lab[0]))
        self.certificates: list[dict[str, Any]] = []
        self.ops: list[dict[str, Any]] = []
        self.number = 0

    def digest(self) -> str:
        return "0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex()

    def moment(self, day: dt.date) -> dt.datetime:
        """A time of ``day`` in China (some before 08:00, the previous day in UTC), as UTC."""
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - dt.timedelta(hours=8)
        return midnight + dt.timedelta(minutes=int(self.rng.random() * 1440))

    def certificate(
        self,
        inst: dict[str, Any],
        kind: str,
        issued: dt.date,
        valid_until: dt.date | None,
        *,
        status: str = CertificateStatus.ANCHORED,
        link: str = "serial",
    ) -> str:
        self.number += 1
        digest = self.digest()
        by_serial = link == "serial"
        number = f"JD-{self.number:08d}"
        accepted = self.moment(issued)
        self.certificates.append(
            {
                "digest": digest,
                "lab_id": self.lab_id,
                "certificate_number": number,
                "kind": kind,
                "category_code": inst["category"],
                "serial_number": inst["serial_number"] if by_serial else None,
                "manufacturer_key": inst["manufacturer_key"] if by_serial else None,
                "customer_usci": inst["usci"],
                "asset_number": inst["asset_number"],
                "issue_date": issued.isoformat(),
                "valid_until": valid_until.isoformat() if valid_until else None,
                # A small record (padded to a real one's size on request): coverage reads the row's columns.
                "record_json": f'{{"kind":"{kind}","certificate_number":"{number}"{self.padding}}}',
                "key_id": "0x" + "00" * 32,
                "signature": "0x" + "00" * 64,
                "signed_by": "REGISTRY",
                "status": status,
                "accepted_at": accepted,
                "anchored_at": accepted if status == CertificateStatus.ANCHORED else None,
                "public": False,
            }
        )
        return digest

    def revoke(self, digest: str, day: dt.date, *, done: bool = True) -> None:
        """A revocation of ``digest`` taking effect on ``day`` (China): by its effective time, or (half the time)
        with none and the block's timestamp instead."""
        moment = int(dt.datetime.combine(day, dt.time(self.rng.randrange(24), 30), CHINA).timestamp())
        by_block = self.rng.random() < 0.5
        self.ops.append(
            {
                "op": "REVOKE",
                "lab_id": self.lab_id,
                "digest": digest,
                "reason": 1,
                "effective_time": 0 if by_block else moment,
                "requested_by": "LAB",
                "state": "DONE" if done else "PENDING",
                "block_timestamp": (moment if by_block else moment + 3600) if done else None,
            }
        )


def _story(w: _Writer, inst: dict[str, Any], story: str) -> list[CertificateTruth]:
    """Write the certificates of one instrument following ``story`` and return them all, those that must not count
    included (a recount ignores them as the registry does)."""
    rng, today = w.rng, w.today
    period: int = inst["period_months"]
    registered: dt.date = inst["registered"]
    out: list[CertificateTruth] = []

    def link() -> str:
        return "asset" if inst["asset_number"] and rng.random() < 0.25 else "serial"

    def add(kind: str, day: dt.date, valid: dt.date | None, status: str = "ANCHORED") -> CertificateTruth:
        how = link()
        digest = w.certificate(inst, kind, day, valid, status=status, link=how)
        truth = CertificateTruth(digest, kind, status, day, valid, None, how)
        out.append(truth)
        return truth

    def validity(day: dt.date) -> dt.date | None:
        if rng.random() < 0.06:  # the certificate states no validity date: the period decides
            return None
        months = period if rng.random() < 0.9 else max(1, period // 2)  # sometimes a shorter validity
        return add_months(day, months) - dt.timedelta(days=1)

    def passes(start: dt.date, stop: dt.date) -> None:
        """Verifications from ``start``, each renewed about when due, while on or before ``stop``."""
        day = start
        while day <= stop:
            valid = validity(day)
            add("VERIFICATION", day, valid)
            due = valid or add_months(day, period) - dt.timedelta(days=1)
            draw = rng.random()
            if draw < 0.55:
                day = due - dt.timedelta(days=rng.randrange(0, 20))  # renewed early: two verifications overlap
            elif draw < 0.85:
                day = due + dt.timedelta(days=1)  # renewed the day after the last one ran out
            else:
                day = due + dt.timedelta(days=rng.randrange(2, 60))  # late: a gap

    if story == "never":
        draw = rng.random()
        if draw < 0.2:
            add("CALIBRATION", registered + dt.timedelta(days=rng.randrange(1, 30)), None)
        elif draw < 0.35:
            add("VERIFICATION", registered + dt.timedelta(days=rng.randrange(1, 30)), None, CertificateStatus.PENDING)
        return out
    # The first verification: before registration (up to a period earlier) or within a month after it.
    if rng.random() < 0.7:
        first = registered - dt.timedelta(days=rng.randrange(0, min(period, 12) * 30))
    else:
        first = registered + dt.timedelta(days=rng.randrange(0, 30))
    first = min(first, today)
    if story == "regular":
        passes(first, today)
    elif story == "lapsed":
        passes(first, max(first, today - dt.timedelta(days=rng.randrange(0, 500))))
    elif story == "failed":
        passes(first, max(first, today - dt.timedelta(days=rng.randrange(0, 300))))
        last = out[-1].issued
        fail = min(today, last + dt.timedelta(days=rng.randrange(1, 400)))
        if fail > last:
            add("VERIFICATION_FAIL_NOTICE", fail, None)
    elif story == "fail_then_pass":
        add("VERIFICATION_FAIL_NOTICE", first, None)
        passes(min(today, first + dt.timedelta(days=rng.randrange(1, 20))), today)
    elif story == "revoked":
        passes(first, today)
        victim = out[-1] if rng.random() < 0.8 else out[rng.randrange(len(out))]
        day = min(today, victim.issued + dt.timedelta(days=rng.randrange(1, 200)))
        if day > victim.issued:
            w.revoke(victim.digest, day)
            out[out.index(victim)] = CertificateTruth(
                victim.digest, victim.kind, victim.status, victim.issued, victim.valid_until, day, victim.link
            )
            if rng.random() < 0.3:  # re-verified after the revocation
                passes(min(today, day + dt.timedelta(days=rng.randrange(0, 60))), today)
    # Noise that must not count: a calibration, a verification not on chain, a revocation not done.
    draw = rng.random()
    if draw < 0.04:
        add("CALIBRATION", min(today, out[0].issued + dt.timedelta(days=3)), None)
    elif draw < 0.07:
        add("VERIFICATION", min(today, out[-1].issued + dt.timedelta(days=5)), None, CertificateStatus.FAILED)
    elif draw < 0.09 and out[0].revoked is None:
        w.revoke(out[0].digest, min(today, out[0].issued + dt.timedelta(days=1)), done=False)
    return out


def generate_region(
    core: Any,
    *,
    instruments: int = 50_000,
    enterprises: int = 2_000,
    categories: int = 10,
    today: dt.date,
    seed: int = 1,
    record_bytes: int = 0,
) -> Region:
    """Write a region of ``enterprises`` enterprises with ``instruments`` instruments of the first ``categories`` of
    :data:`CATEGORIES` and their certificates into ``core``'s empty database (``core.sessions``); return the
    ground truth. Deterministic by ``seed`` and ``today`` (the last day any certificate is issued). Each
    certificate's record is a small JSON, padded by ``record_bytes`` (a real record is a few kilobytes: the rows
    a database reads are that much larger)."""
    if not 1 <= categories <= len(CATEGORIES):
        raise ValueError(f"categories is 1 to {len(CATEGORIES)}")
    rng = random.Random(seed)
    w = _Writer(rng, today, record_bytes)
    region = Region(today=today)
    ent_rows: list[dict[str, Any]] = []
    site_rows: list[dict[str, Any]] = []
    sites_of: list[list[tuple[str, str, int]]] = []
    names: dict[str, str] = {}
    for e in range(enterprises):
        home = rng.choice(ELSEWHERE) if rng.random() < 0.02 else rng.choice(DISTRICTS)
        code = usci(f"91{home}MA{e:07d}")
        assert is_valid_usci(code) and code[2:8] == str(home), code
        name = f"示范企业{e + 1:05d}有限公司"
        names[code] = name
        ent_rows.append(
            {
                "usci": code,
                "name": name,
                "region": home,
                "state": "CONFIRMED",
                "registered_at": w.moment(today - dt.timedelta(days=900)),
            }
        )
        own = []
        for k in range(1 + (rng.random() < 0.3) + (rng.random() < 0.1)):
            # Mostly in the enterprise's own district; some elsewhere in the province.
            where = home if k == 0 or rng.random() < 0.5 else rng.choice(DISTRICTS)
            site_id = f"{rng.getrandbits(48):012x}"
            site_name = f"{name}第{k + 1}经营场所"
            own.append((site_id, site_name, where))
            site_rows.append({"id": site_id, "usci": code, "name": site_name, "region": where})
        sites_of.append(own)
        region.enterprises.append(code)
    weights = [rng.randint(1, 40) for _ in range(enterprises)]
    owners = rng.choices(range(enterprises), weights=weights, k=instruments)
    assets: dict[str, int] = {}
    inst_rows: list[dict[str, Any]] = []
    for i in range(instruments):
        e = owners[i]
        code = region.enterprises[e]
        site_id, site_name, where = rng.choice(sites_of[e])
        # Every category at least once, then drawn.
        category, use, period, makers = CATEGORIES[i] if i < categories else rng.choice(CATEGORIES[:categories])
        maker = rng.choice(makers)
        mandatory = rng.random() >= 0.04
        if rng.random() < 0.8:  # registered when the register opened, before the last year
            registered = today - dt.timedelta(days=rng.randrange(380, 800))
        else:  # registered during the last year
            registered = today - dt.timedelta(days=rng.randrange(0, 380))
        asset = None
        if rng.random() < 0.6:
            assets[code] = assets.get(code, 0) + 1
            asset = f"ZC-{assets[code]:05d}"
        inst: dict[str, Any] = {
            "id": i + 1,
            "usci": code,
            "site_id": site_id,
            "region": where,
            "category": category,
            "catalogue_no": 16 if category == "压力表" else None,
            "use": use,
            "mandatory": mandatory,
            "manufacturer": maker,
            "manufacturer_key": manufacturer_key(maker) or "",
            "model": "M-1",
            "serial_number": f"SN{i + 1:08d}",
            "asset_number": asset,
            "period_months": period,
            "registered_at": w.moment(registered),
        }
        inst_rows.append(inst)
        story = rng.choices(_STORIES, weights=_STORY_WEIGHTS)[0]
        certificates = _story(w, {**inst, "registered": registered}, story)
        region.instruments.append(
            InstrumentTruth(
                id=inst["id"],
                usci=code,
                enterprise=names[code],
                site_id=site_id,
                site=site_name,
                region=where,
                category=category,
                mandatory=mandatory,
                period_months=period,
                registered=registered,
                serial_number=inst["serial_number"],
                asset_number=asset,
                story=story,
                certificates=tuple(certificates),
            )
        )
    # Certificates of instruments nobody registered (a serial no register holds; an asset number of no one's).
    for j in range(max(1, instruments // 50)):
        stranger = {
            "category": "电子计价秤",
            "serial_number": f"UNREG{j:06d}",
            "manufacturer_key": manufacturer_key("某衡器有限公司"),
            "usci": usci(f"92330106MA{j:07d}"),
            "asset_number": "ZC-00001",
        }
        w.certificate(
            stranger,
            "VERIFICATION",
            today - dt.timedelta(days=rng.randrange(0, 300)),
            None,
        )
    _write(core, w, ent_rows, site_rows, inst_rows)
    region.counts = {
        "enterprises": len(ent_rows),
        "sites": len(site_rows),
        "instruments": len(inst_rows),
        "certificates": len(w.certificates),
        "revocations": len(w.ops),
    }
    return region


def _write(
    core: Any,
    w: _Writer,
    enterprises: Sequence[dict[str, Any]],
    sites: Sequence[dict[str, Any]],
    instruments: Sequence[dict[str, Any]],
) -> None:
    tables = Base.metadata.tables  # by name: whichever module of the registry declares them
    with core.sessions.begin() as s:
        if s.get_bind().dialect.name == "sqlite":  # room for the indexes of 100k random digests (this connection)
            s.execute(text("PRAGMA cache_size = -262144"))
        s.execute(
            insert(tables["labs"]),
            [{"lab_id": w.lab_id, "code": w.lab[0], "name": w.lab[1], "writer_address": "0x" + "00" * 20}],
        )
        for name, rows in (
            ("enterprises", enterprises),
            ("sites", sites),
            ("instruments", instruments),
            ("certificates", w.certificates),
            ("lifecycle_ops", w.ops),
        ):
            for i in range(0, len(rows), 5000):
                s.execute(insert(tables[name]), list(rows[i : i + 5000]))
