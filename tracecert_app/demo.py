"""Demo data that tells the traceability story, made with the real services and real chain transactions.

The story (dated on the day of seeding, so the demo is always current)::

    国家市场监督管理总局 (national authority, root of trust)
    ├── registers 中国计量科学研究院 (NMI, calibration of volume and pressure standards)
    └── 浙江省市场监督管理局 (330000)
        ├── registers 浙江省计量科学研究院 (provincial institute)
        └── 杭州市市场监督管理局 (330100)
            └── registers 杭州市计量检定测试院 (city lab)

    volume:   NMI calibrates the institute's 一等标准金属量器 (U 0.0025 %)
              → the institute verifies the city lab's 二等标准金属量器 (U 0.005 %)
              → the city lab verifies an enterprise's 燃油加油机 (JJG 443, 强检, 贸易结算; U 0.03 %)
    pressure: NMI calibrates the institute's 活塞式压力计 (U 0.00012 MPa)
              → the institute calibrates the city lab's 数字压力计 (U 0.00060 MPa)
              → the city lab calibrates an enterprise's 一般压力表 (U 0.0032 MPa, k = 2, p = 0.95)

Each child's ``standards_used[].certificate_digest`` is its parent's digest, and the parent was valid over the
child's dates. Twists a verifier shows: a fuel-dispenser certificate revoked on the city regulator's order, a
pressure-gauge certificate substituted by a corrected replacement (``replaces``), an attempt to reuse the
fuel dispenser's certificate number for another dispenser (refused, recorded as a fraud signal), and, on the credit
record (一公开), the city regulator's rectification order against the city lab, lifted two days before the story's
day once the lab had rectified (its grade is A again, its history kept), and its warning, in force, to the gas
station whose dispenser's certificate it had revoked (the decision documents are in ``<data_dir>/demo/``, their
SHA-256 on chain).

The NMI signs its own certificates (lab-signing mode, a key file in the data directory); the other labs let the
registry sign. The certificates of reference standards (the NMI's and the institute's, which others cite in
``standards_used``) are published: anyone may download their proof bundles to follow a chain; the enterprises'
certificates stay private. :func:`seed_demo` is idempotent: a second run finds everything and changes nothing
(on a data directory seeded before certificates could be published, it publishes the standards' certificates).

Every certificate is issued on the day of seeding: the labs' signing keys are registered that day and a key
window never starts in the past, so an earlier issue date would fail the verifier's "key valid at issue" check
(and a parent issued after its child's work would break the link). The NMI's measurements took place days before;
the institute and the city lab work that same day, each after its standard's certificate was anchored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nacl.pwhash
from sqlalchemy import func, select

from registry.anchoring import AnchoringWorker
from registry.core import RegistryCore
from registry.db import Certificate, FraudSignal
from registry.draws import publish_draw
from registry.errors import AlreadyRevoked, NumberReuse, RegistryError
from registry.issuance import Submission, accept
from registry.lifecycle import request_revocation
from registry.onboarding import (
    CHINA,
    authorize_lab,
    dev_sender,
    ensure_lab,
    ensure_regulator,
    onboard_lab,
)
from tracecert.certificate.canonical import certificate_digest, to_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import SigningKey, generate_key, load_key_file, save_key_file
from tracecert.chain.contracts import enterprise_subject
from tracecert.chain.local import DevKeyring
from tracecert.chain.types import RevocationReason, SanctionKind, SanctionReason
from tracecert.credit import standing
from tracecert.draws import DrawSpec, commitment, published_from_chain
from tracecert_app.story import (
    FUEL_STATION,
    LABS,
    NORTH_STATION,
    PARENTS,
    POWER_PLANT,
    REGULATORS,
    STANDARDS,
    TITLES,
    Story,
)

__all__ = ["DEMO_KEY_PASSPHRASE", "DemoError", "DemoSummary", "demo_certificate_count", "seed_demo"]

#: Passphrase of the NMI's demo key file (demo data only).
DEMO_KEY_PASSPHRASE = "tracecert-demo"  # noqa: S105 - a published demo passphrase
_STATE_VERSION = 1


class DemoError(RegistryError):
    """The demo cannot be seeded here (e.g. the deployment's national authority is not this data directory's)."""

    code = "DEMO_NOT_POSSIBLE"


@dataclass
class DemoSummary:
    """What the demo holds: labs with their API tokens, regulators, certificates by name, the fraud signal."""

    created: bool
    date: str
    labs: dict[str, dict[str, str]]
    regulators: dict[str, dict[str, str]]
    certificates: dict[str, dict[str, Any]]
    fraud_signal: dict[str, str]
    nmi_key_file: str
    #: The credit record entries the story recorded: subject, grade, kind, reason, case number, decision file.
    credit: list[dict[str, str]] = field(default_factory=list)
    #: The city regulator's published random inspection draw of the city lab's certificates (双随机).
    draw: dict[str, Any] = field(default_factory=dict)
    #: The enterprises onboarded by the city regulator, with their tokens, registered instruments and watches.
    enterprises: dict[str, dict[str, Any]] = field(default_factory=dict)
    nmi_key_passphrase: str = DEMO_KEY_PASSPHRASE
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (printed by ``tracecert up --json``)."""
        return asdict(self)


# ====================================================================== state


def _state_path(data_dir: Path) -> Path:
    return Path(data_dir) / "demo" / "demo.json"


def _load_state(data_dir: Path) -> dict[str, Any]:
    path = _state_path(data_dir)
    if not path.exists():
        return {}
    state = json.loads(path.read_text(encoding="utf-8"))
    return dict(state) if state.get("version") == _STATE_VERSION else {}


def _save_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Write the state (it holds demo tokens) with mode 0600, atomically."""
    path = _state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({**state, "version": _STATE_VERSION}, f, ensure_ascii=False, indent=2, sort_keys=True)
    tmp.replace(path)


# ====================================================================== seeding


def seed_demo(core: RegistryCore, data_dir: Path, *, today: dt.date | None = None) -> DemoSummary:
    """Seed the demo once on the local development chain of ``data_dir``; later calls find it and return it.

    ``today`` fixes the story's dates on the first call (default: the chain's date in China); they are kept in
    ``<data_dir>/demo/demo.json`` with the demo tokens, so an interrupted seeding resumes with the same records.

    Raises:
        DemoError: the deployment's national authority is not this data directory's development account.
        RegistryError, ChainError: a service or the chain refused a step.
    """
    data_dir = Path(data_dir)
    contracts = core.chain
    keyring = DevKeyring(data_dir)
    national = keyring.account("national-authority").address
    if national != contracts.deployment.national_authority:
        raise DemoError(
            f"the deployment's national authority {contracts.deployment.national_authority} is not the development "
            f"account of {data_dir}; the demo needs the local chain that `tracecert up` deployed"
        )
    state = _load_state(data_dir)
    created = False
    now = core.chain_now()

    # Regulators: national → Zhejiang → Hangzhou.
    for reg in REGULATORS:
        parent = dev_sender(contracts, data_dir, reg.parent_role)
        account = keyring.funded(contracts.client, reg.role).address
        created |= ensure_regulator(contracts, parent, account, reg.jurisdiction, reg.name)

    # Labs: registered and authorized on chain by their regulators, onboarded with the registry.
    nmi_key = _nmi_key(data_dir)
    for lab in LABS:
        regulator = dev_sender(contracts, data_dir, lab.regulator_role)
        admin = dev_sender(contracts, data_dir, f"lab-admin-{lab.code}")
        lab_bytes = derive_lab_id(lab.code)
        created |= ensure_lab(contracts, regulator, lab_bytes, lab.kind, lab.jurisdiction, admin.address, lab.name)
        index = authorize_lab(
            contracts,
            regulator,
            lab_bytes,
            lab.authorization_number,
            now - 400 * 86400,
            now + 4 * 365 * 86400,
            lab.scope,
            only_if_none=True,
        )
        created |= index is not None
        public = nmi_key.public_key if lab.key == "nmi" else None
        done = onboard_lab(core, admin, lab.code, lab.name, public_key=public, fund_writer=True)
        created |= done.writer_added or done.key_registered

    # Tokens (kept in the state file: the registry stores them only hashed) and the city regulator's account,
    # which the registry holds to put its revocation orders on chain.
    tokens: dict[str, str] = dict(state.get("tokens", {}))
    for lab in LABS:
        tokens[lab.key] = _token(core, tokens.get(lab.key), "LAB", lab_id=lab.lab_id, label="demo")
    for reg in REGULATORS:
        address = keyring.account(reg.role).address
        tokens[reg.role] = _token(core, tokens.get(reg.role), "REGULATOR", regulator_address=address, label="demo")
    core.add_regulator_account(bytes(keyring.account("regulator-330100").key))
    day = dt.date.fromisoformat(state["date"]) if "date" in state else today or _chain_day(now)
    state.update(tokens=tokens, date=day.isoformat())
    _save_state(data_dir, state)

    # Certificates, level by level, each level anchored before the next one uses it.
    records = Story(day)
    worker = AnchoringWorker(core)
    digests: dict[str, str] = {}
    principals = {lab.key: core.authenticate(tokens[lab.key]) for lab in LABS}

    def issue(name: str, record: dict[str, Any], lab_key: str) -> None:
        nonlocal created
        signature = None
        if lab_key == "nmi":
            digest = certificate_digest(record_from_json(record))
            signature = (to_hex(nmi_key.key_id), to_hex(nmi_key.sign(digest)))
        submission = Submission(
            record,
            key_id=signature[0] if signature else None,
            signature=signature[1] if signature else None,
            public=name in STANDARDS,
        )
        result = accept(core, principals[lab_key], submission)
        created |= result.created
        digests[name] = result.digest

    issue("nmi_volume", records.nmi_volume(), "nmi")
    issue("nmi_pressure", records.nmi_pressure(), "nmi")
    worker.drain()
    issue("province_volume", records.province_volume(digests["nmi_volume"]), "province")
    issue("province_pressure", records.province_pressure(digests["nmi_pressure"]), "province")
    worker.drain()
    issue("fuel_dispenser", records.fuel_dispenser(digests["province_volume"]), "city")
    issue("pressure_gauge", records.pressure_gauge(digests["province_pressure"]), "city")
    issue("revoked", records.revoked_dispenser(digests["province_volume"]), "city")
    issue("substituted", records.substituted_gauge(digests["province_pressure"]), "city")
    worker.drain()
    issue("replacement", records.replacement_gauge(digests["province_pressure"], digests["substituted"]), "city")

    # Twists: a revocation ordered by the city regulator, and a reused certificate number.
    city_regulator = core.authenticate(tokens["regulator-330100"])
    try:
        request_revocation(core, city_regulator, digests["revoked"], int(RevocationReason.REGULATOR_ORDER))
        created = True
    except AlreadyRevoked:
        pass
    fraud = _number_reuse(core, principals["city"], records, digests)
    created |= fraud.pop("new") == "yes"
    worker.drain()
    credit, recorded = _credit_record(core, data_dir, day)
    created |= recorded
    drawn, new_draw = _inspection_draw(core, data_dir, day, digests, tokens["regulator-330100"])
    created |= new_draw
    enterprises = _enterprises(core, state, tokens["regulator-330100"], digests)
    _save_state(data_dir, state)

    summary = DemoSummary(
        created=created,
        date=day.isoformat(),
        labs={
            lab.key: {
                "lab_id": lab.lab_id,
                "code": lab.code,
                "name": lab.name,
                "kind": lab.kind.name,
                "token": tokens[lab.key],
            }
            for lab in LABS
        },
        regulators={
            "national": {"name": "国家市场监督管理总局", "address": national},
            **{
                str(reg.jurisdiction): {
                    "name": reg.name,
                    "address": keyring.account(reg.role).address,
                    "token": tokens[reg.role],
                }
                for reg in REGULATORS
            },
        },
        certificates={name: _describe(core, name, digest) for name, digest in digests.items()},
        fraud_signal=fraud,
        nmi_key_file=str(_nmi_key_path(data_dir)),
        credit=credit,
        draw=drawn,
        enterprises=enterprises,
    )
    state["summary"] = summary.to_dict()
    _save_state(data_dir, state)
    return summary


#: The demo's enterprises: their instruments (what the city lab's certificates are about, and one dispenser never
#: verified) and what they watch by name (a certificate of the city lab's reference standards).
_ENTERPRISES: dict[str, tuple[tuple[str, str, str], list[dict[str, Any]], list[str]]] = {
    "fuel_station": (
        FUEL_STATION,
        [
            {"category": "燃油加油机", "use": "TRADE", "mandatory": True, "manufacturer": "示范加油机制造有限公司",
             "model": "CS46", "serial_number": "JY-2024-08817", "asset_number": "XH-JYJ-01",
             "site": "西湖示范加油站", "site_region": 330106, "period_months": 6},
            {"category": "燃油加油机", "use": "TRADE", "mandatory": True, "manufacturer": "示范加油机制造有限公司",
             "model": "CS46", "serial_number": "JY-2024-08818", "asset_number": "XH-JYJ-02",
             "site": "西湖示范加油站", "site_region": 330106, "period_months": 6},
        ],
        [],
    ),
    "north_station": (
        NORTH_STATION,
        [
            {"category": "燃油加油机", "use": "TRADE", "mandatory": True, "manufacturer": "示范加油机制造有限公司",
             "model": "CS46", "serial_number": "JY-2023-05521", "asset_number": "CB-JYJ-01",
             "site": "城北示范加油站", "site_region": 330105, "period_months": 6},
        ],
        ["province_volume"],
    ),
    "power_plant": (
        POWER_PLANT,
        [
            {"category": "压力表", "use": "SAFETY", "mandatory": True, "manufacturer": "示范仪表有限公司",
             "model": "Y-100", "serial_number": "YB-23-04417", "asset_number": "RD-YLB-017",
             "site": "示范热电锅炉房", "site_region": 330104, "period_months": 6},
        ],
        ["province_pressure"],
    ),
}  # fmt: skip


def _enterprises(
    core: RegistryCore, state: dict[str, Any], regulator_token: str, digests: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The city regulator onboards the demo's enterprises (tokens kept in the state); each registers its
    instruments and watches what it names (both idempotent)."""
    from registry.alerts import add_watches
    from registry.db_enterprises import Site
    from registry.enterprises import register_enterprise
    from registry.instruments import register_instruments

    regulator = core.authenticate(regulator_token)
    tokens: dict[str, str] = state.setdefault("enterprise_tokens", {})
    out: dict[str, dict[str, Any]] = {}
    for key, ((name, code, _address), instruments, watched) in _ENTERPRISES.items():
        _, token, _ = register_enterprise(core, regulator, code, name)
        if token is not None:
            tokens[key] = token
        elif key not in tokens:  # the account exists but its token was lost with the state: a new one
            tokens[key] = core.issue_token("ENTERPRISE", usci=code, label="demo")[1]
        principal = core.authenticate(tokens[key])
        registered = register_instruments(core, principal, instruments)
        add_watches(core, principal, [digests[w] for w in watched], note="供应商的计量标准证书")
        with core.sessions() as s:
            sites = [{"id": site.id, "name": site.name} for site in s.scalars(select(Site).where(Site.usci == code))]
        out[key] = {"name": name, "usci": code, "token": tokens[key], "instruments": registered["instruments"],
                    "watches": watched, "sites": sites}  # fmt: skip
    return out


def _chain_day(now: int) -> dt.date:
    return dt.datetime.fromtimestamp(now, CHINA).date()


def _token(core: RegistryCore, known: str | None, role: str, **kwargs: Any) -> str:
    if known is not None:
        try:
            core.authenticate(known)
            return known
        except RegistryError:
            pass
    return core.issue_token(role, **kwargs)[1]  # type: ignore[arg-type]


def _nmi_key_path(data_dir: Path) -> Path:
    return Path(data_dir) / "demo" / "nmi-signing-key.json"


def _nmi_key(data_dir: Path) -> SigningKey:
    """The NMI's own signing key (it signs its certificates itself), as an encrypted key file."""
    path = _nmi_key_path(data_dir)
    passphrase = DEMO_KEY_PASSPHRASE.encode()
    if path.exists():
        return load_key_file(path, passphrase)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    save_key_file(
        key,
        path,
        passphrase,
        opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    )
    return key


def _number_reuse(core: RegistryCore, city: Any, records: Story, digests: dict[str, str]) -> dict[str, str]:
    """Try the fuel dispenser's number for another dispenser once; return the recorded fraud signal."""
    lab_id = records.lab("city").lab_id
    number = records.number("fuel_dispenser")
    new = "no"
    with core.sessions() as s:
        signal = s.scalar(
            select(FraudSignal).where(FraudSignal.lab_id == lab_id, FraudSignal.certificate_number == number)
        )
    if signal is None:
        try:
            accept(core, city, Submission(records.fuel_dispenser(digests["province_volume"], reused=True)))
        except NumberReuse:
            new = "yes"
        with core.sessions() as s:
            signal = s.scalar(
                select(FraudSignal).where(FraudSignal.lab_id == lab_id, FraudSignal.certificate_number == number)
            )
    assert signal is not None
    return {
        "kind": signal.kind,
        "lab_id": lab_id,
        "certificate_number": number,
        "existing_digest": signal.existing_digest,
        "attempted_digest": signal.attempted_digest,
        "new": new,
    }


#: The story's credit record: (subject, kind, reason, case number, days before seeding it took effect, days in
#: force, days before seeding it was lifted or None, the decision document's text).
_SANCTIONS = (
    (
        "city",
        SanctionKind.RECTIFICATION,
        SanctionReason.STANDARD_NOT_TRACEABLE,
        "杭市监计改〔{year}〕1号",
        40,
        90,
        2,
        "杭州市市场监督管理局 责令改正决定书 杭市监计改〔{year}〕1号\n当事人：杭州市计量检定测试院\n"
        "经查，当事人的二等标准金属量器超过有效期仍在使用。责令当事人于三个月内完成整改。\n",
    ),
    (
        "north_station",
        SanctionKind.WARNING,
        SanctionReason.NONCONFORMING_INSTRUMENTS,
        "杭市监计罚〔{year}〕7号",
        0,
        180,
        None,
        "杭州市市场监督管理局 行政处罚决定书 杭市监计罚〔{year}〕7号\n当事人：杭州城北示范加油站有限公司\n"
        "经查，当事人使用的燃油加油机检定证书已被撤销，仍继续用于贸易结算。给予警告。\n",
    ),
)
_DAY = 86400


def _credit_record(core: RegistryCore, data_dir: Path, day: dt.date) -> tuple[list[dict[str, str]], bool]:
    """Record the story's credit record once, as the city regulator: a rectification order against the city lab
    that took effect weeks ago and was lifted two days ago (its certificates of today are issued on a clean
    record), and a warning to the gas station whose dispenser's certificate was revoked, in force from now. Each
    decision document is written beside the demo state, its SHA-256 on chain. Returns the entries as the summary
    shows them, and whether any was recorded now."""
    contracts = core.chain
    if contracts.credit is None:
        return [], False
    regulator = dev_sender(contracts, data_dir, "regulator-330100")
    city = next(lab for lab in LABS if lab.key == "city")
    subjects: dict[str, tuple[bytes | str, bytes, str]] = {
        "city": (derive_lab_id(city.code), derive_lab_id(city.code), city.name),
        "north_station": (NORTH_STATION[1], enterprise_subject(NORTH_STATION[1]), NORTH_STATION[0]),
    }
    shown: list[dict[str, str]] = []
    recorded = False
    for key, kind, reason, case_template, since, days, lifted, text_template in _SANCTIONS:
        target, subject, name = subjects[key]
        case = case_template.format(year=day.year)
        decision = text_template.format(year=day.year).encode("utf-8")
        path = _state_path(data_dir).parent / f"decision-{key}.txt"
        path.write_bytes(decision)
        digest = hashlib.sha256(decision).digest()
        now = core.chain_now()
        entries = contracts.sanctions(subject) or []
        found = [e for e in entries if e.case_number == case and e.kind is kind]
        if not found:
            start = now - since * _DAY
            contracts.record_sanction(regulator, target, kind, reason, case, digest, start, start + days * _DAY)
            entries = contracts.sanctions(subject) or []
            found = [e for e in entries if e.case_number == case and e.kind is kind]
            recorded = True
        lift_case = f"{case} 解除"
        if lifted is not None and not any(e.case_number == lift_case for e in entries):
            contracts.lift_sanction(
                regulator, subject, found[0].index, SanctionReason.RECTIFIED, lift_case, digest, now - lifted * _DAY
            )
            recorded = True
        grade = standing(contracts.sanctions(subject) or [], core.chain_now()).grade
        shown.append(
            {
                "subject": to_hex(subject) if isinstance(target, bytes) else str(target),
                "name": name,
                "grade": f"{grade.value} {grade.zh}",
                "kind": f"{kind.zh} / {kind.en}",
                "reason": f"{reason.zh} / {reason.en}",
                "case_number": case,
                "lifted": "" if lifted is None else lift_case,
                "decision_file": str(path),
            }
        )
    return shown, recorded


def _inspection_draw(
    core: RegistryCore, data_dir: Path, day: dt.date, digests: dict[str, str], token: str
) -> tuple[dict[str, Any], bool]:
    """The city regulator draws two of the city lab's certificates for an on-site check (双随机), committed on chain
    once, and publishes the draw through the registry; returns what the summary shows and whether it is new."""
    contracts = core.chain
    if contracts.credit is None:
        return {}, False
    city = ("fuel_dispenser", "pressure_gauge", "revoked", "substituted", "replacement")
    spec = DrawSpec(
        purpose=f"{day.year}年第{(day.month - 1) // 3 + 1}季度杭州市检定证书双随机抽查",
        jurisdiction=330100,
        population=tuple(sorted(digests[name] for name in city)),
        size=2,
        inspectors=("陈建国", "林晓燕", "黄志强"),
        inspectors_per_item=2,
        selection={"how": "杭州市计量检定测试院本季度存证的证书"},
    )
    new = contracts.draw_block(commitment(spec)) == 0
    if new:
        contracts.commit_draw(dev_sender(contracts, data_dir, "regulator-330100"), commitment(spec), 330100)
    published = published_from_chain(spec, contracts, nudge=lambda: contracts.client.rpc("evm_mine", []), poll=0.05)
    view, _ = publish_draw(core, core.authenticate(token), published)
    names = {digest: name for name, digest in digests.items()}
    return {
        "purpose": view["purpose"],
        "commitment": view["commitment"],
        "drawn": [names[d] for d in view["sample"]],
        "of": view["population_size"],
    }, new


def _describe(core: RegistryCore, name: str, digest: str) -> dict[str, Any]:
    with core.sessions() as s:
        row = s.scalar(select(Certificate).where(Certificate.digest == digest))
    assert row is not None
    parent = PARENTS.get(name)
    return {
        "digest": digest,
        "certificate_number": row.certificate_number,
        "kind": row.kind,
        "lab_id": row.lab_id,
        "status": row.status.lower(),
        "public": row.public,
        "title": TITLES[name],
        "parent": parent,
    }


def demo_certificate_count(core: RegistryCore) -> int:
    """How many certificates the registry holds (tests check that a second seeding adds none)."""
    with core.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Certificate)) or 0)


