"""Verifier fixtures: labs on a real chain issuing real signed, anchored certificates, as bundles.

No registry here: the verifier must work from the chain and bundles alone. Labs anchor through the chain layer
directly (sign, Merkle batch, anchor, bundle), which is exactly what a registry does for them.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from registry.onboarding import authorize_lab, ensure_lab
from tests.conftest import Chain, Snapshot, new_chain
from tracecert.certificate.bundle import Anchor, build_bundle, bundle_to_json
from tracecert.certificate.canonical import certificate_digest, to_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.merkle import build_batch
from tracecert.certificate.model import is_valid_usci, record_from_json
from tracecert.certificate.signing import SigningKey, generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabKind
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.sources import MemorySource
from verifier.index import Index

_USCI = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def usci(body: str) -> str:
    """A unified social credit code with its GB 32100 check character (``body`` has 17 characters)."""
    for c in _USCI:
        if is_valid_usci(body + c):
            return body + c
    raise ValueError(body)


@dataclass
class TestLab:
    """A lab on chain with its admin, writer and signing key."""

    code: str
    name: str
    lab_id: bytes
    admin: TransactionSender
    writer: TransactionSender
    key: SigningKey
    authorization: str

    @property
    def hex_id(self) -> str:
        return to_hex(self.lab_id)


@dataclass
class TraceWorld:
    """NMI → provincial institute → city lab, on a fresh deployment, and a verifier over the chain."""

    chain: Chain
    national: TransactionSender
    province: TransactionSender
    city_regulator: TransactionSender
    nmi: TestLab
    provincial: TestLab
    city: TestLab
    source: MemorySource = field(default_factory=MemorySource)

    def day(self, offset: int = 0) -> str:
        """The chain's current date in China (UTC+8) plus ``offset`` days, as ``YYYY-MM-DD``."""
        tz = dt.timezone(dt.timedelta(hours=8))
        return (dt.datetime.fromtimestamp(self.chain.now(), tz).date() + dt.timedelta(days=offset)).isoformat()

    @property
    def verifier(self) -> Verifier:
        return Verifier(LiveChainView(self.chain.contracts), self.source)

    def issue(
        self, lab: TestLab, *records: dict[str, Any], key: SigningKey | None = None, publish: bool = True
    ) -> list[dict[str, Any]]:
        """Sign, batch and anchor records for ``lab``; return their bundles (added to the source if ``publish``)."""
        key = key or lab.key
        parsed = [record_from_json(r) for r in records]
        digests = [certificate_digest(r) for r in parsed]
        batch = build_batch(digests)
        receipt = self.chain.contracts.anchor(lab.writer, batch.root, len(digests), key.key_id)
        anchor = Anchor(
            chain_id=self.chain.client.chain_id,
            contract=self.chain.contracts.deployment.certificate_registry,
            root=to_hex(batch.root),
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
            block_timestamp=self.chain.client.block_timestamp(receipt.block_number),
        )
        bundles = [
            bundle_to_json(
                build_bundle(
                    r,
                    signature=key.sign(d),
                    public_key=key.public_key,
                    leaf_index=i,
                    tree_size=len(digests),
                    proof=batch.proofs[i],
                    anchor=anchor,
                )
            )
            for i, (r, d) in enumerate(zip(parsed, digests, strict=True))
        ]
        if publish:
            for b in bundles:
                self.source.add(b)
        return bundles


def _lab(
    chain: Chain,
    regulator: TransactionSender,
    code: str,
    name: str,
    kind: LabKind,
    jurisdiction: int,
    scope: dict[str, Activity],
    authorization: str,
    valid_from: int,
    valid_until: int,
) -> TestLab:
    """Register and authorize a lab as the CLI does (registry.onboarding), then give it a writer account and a key
    of its own (the verifier's tests anchor as the lab, without a registry)."""
    lab_id = derive_lab_id(code)
    admin, writer = chain.actor(f"admin-{code}"), chain.actor(f"writer-{code}")
    c = chain.contracts
    ensure_lab(c, regulator, lab_id, kind, jurisdiction, admin.address, name)
    authorize_lab(c, regulator, lab_id, authorization, valid_from, valid_until, scope)
    c.add_writer(admin, lab_id, writer.address)
    key = generate_key()
    c.register_key(admin, lab_id, key.public_key)
    return TestLab(code, name, lab_id, admin, writer, key, authorization)


def build_trace_world(chain: Chain) -> TraceWorld:
    """Three labs; authorizations run from six years before the chain's now to ten years after, so that recent
    dates are inside them however far the node's clock has moved; then a month passes."""
    c = chain.contracts
    province, city_reg = chain.actor("zhejiang"), chain.actor("hangzhou")
    c.register_regulator(chain.national, province.address, 330000, "浙江省市场监督管理局")
    c.register_regulator(province, city_reg.address, 330100, "杭州市市场监督管理局")
    now = chain.now()
    start, end = now - 6 * 365 * 86_400, now + 10 * 365 * 86_400
    pressure = {"PRESSURE": Activity.VERIFY | Activity.CALIBRATE, "JJG52": Activity.VERIFY}
    nmi = _lab(
        chain,
        chain.national,
        usci("12100000400000624"),
        "中国计量科学研究院",
        LabKind.NMI,
        110000,
        {"PRESSURE": Activity.CALIBRATE},
        "NIM-CMC-2020",
        start,
        end,
    )
    provincial = _lab(
        chain,
        province,
        usci("12330000470000212"),
        "浙江省计量科学研究院",
        LabKind.LEGAL_METROLOGY_INSTITUTE,
        330000,
        pressure,
        "(国)法计(2020)01001号",
        start,
        end,
    )
    city = _lab(
        chain,
        city_reg,
        usci("12330100470001234"),
        "杭州市计量检定测试院",
        LabKind.LEGAL_METROLOGY_INSTITUTE,
        330100,
        pressure,
        "(浙)法计(2020)01023号",
        start,
        end,
    )
    # Keys cannot start in the past: let a month pass so that recent issue dates fall inside their windows.
    chain.advance(30 * 86_400)
    return TraceWorld(chain, chain.national, province, city_reg, nmi, provincial, city)


class TraceTemplate:
    """The trace world built once per session on a node of its own, and the node's snapshot right after it."""

    def __init__(self, client: ChainClient) -> None:
        self.world = build_trace_world(new_chain(client))
        self.snapshot = Snapshot(client)

    def fresh(self) -> TraceWorld:
        """The node back at the snapshot (clock included) and the world with fresh senders and an empty source."""
        self.snapshot.restore()
        chain, w = self.world.chain.fresh(), self.world

        def lab(lab: TestLab) -> TestLab:
            return replace(lab, admin=chain.actor(f"admin-{lab.code}"), writer=chain.actor(f"writer-{lab.code}"))

        return TraceWorld(chain, chain.national, chain.actor("zhejiang"), chain.actor("hangzhou"),
                          lab(w.nmi), lab(w.provincial), lab(w.city))  # fmt: skip


@pytest.fixture(scope="session")
def trace_template(own_node: Callable[[], AnvilNode]) -> TraceTemplate:
    """The trace world, built when a test first needs it."""
    return TraceTemplate(ChainClient(own_node().url))


@pytest.fixture
def trace_world(trace_template: TraceTemplate) -> TraceWorld:
    """NMI → provincial institute → city lab (see :func:`build_trace_world`), exactly as built for every test."""
    return trace_template.fresh()


def calibration(
    lab: TestLab,
    number: str,
    *,
    serial: str,
    item: str,
    u: str,
    unit: str = "\\mega\\pascal",
    performed: str = "2026-03-02",
    issued: str = "2026-03-03",
    valid_until: str | None = "auto",
    standards: list[dict[str, Any]] | None = None,
    customer: str = "某检测机构",
    mandatory: bool | None = None,
) -> dict[str, Any]:
    """A CALIBRATION record (pressure) of ``lab``."""
    record: dict[str, Any] = {
        "schema_version": "tracecert/1",
        "kind": "CALIBRATION",
        "certificate_number": number,
        "dates": {
            "receipt_date": performed,
            "performance_begin": performed,
            "performance_end": performed,
            "issue_date": issued,
        },
        "item": {
            "name": item,
            "category_code": "PRESSURE",
            "manufacturer": "某仪表厂",
            "model": "YB-150",
            "serial_number": serial,
        },
        "customer": {"name": customer, "usci": usci("91330100MA2H00001")},
        "lab": {"lab_id": lab.hex_id, "code": lab.code, "name": lab.name},
        "persons": [
            {"name": "赵校准", "role": "PERFORMER", "id": f"{lab.code[-4:]}-01"},
            {"name": "钱核验", "role": "CHECKER", "id": f"{lab.code[-4:]}-02"},
            {"name": "孙批准", "role": "APPROVER", "id": f"{lab.code[-4:]}-03"},
        ],
        "method": {"reference": "JJF 1190-2008", "title": "压力计量器具校准"},
        "conditions": [{"name": "环境温度", "value": "20.2", "unit": "\\degreeCelsius"}],
        "results": [
            {
                "quantity": "示值误差 (1.0 MPa)",
                "value": "0.001",
                "unit": unit,
                "expanded_uncertainty": u,
                "coverage_factor": "2",
                "coverage_probability": "0.95",
            }
        ],
        "standards_used": standards or [],
        "traceability_statement": "溯源至国家压力基准",
    }
    if valid_until == "auto":
        valid_until = (dt.date.fromisoformat(performed) + dt.timedelta(days=365)).isoformat()
    if valid_until:
        record["dates"]["valid_until"] = valid_until
    if mandatory is not None:
        record["customer"]["mandatory_verification"] = mandatory
    return record


def standard_from(bundle: dict[str, Any], *, name: str = "标准器", u: str | None = None) -> dict[str, Any]:
    """The ``standards_used`` entry pointing at the certificate in ``bundle``."""
    rec = bundle["record"]
    entry: dict[str, Any] = {
        "name": name,
        "serial_number": rec["item"]["serial_number"],
        "certificate_number": rec["certificate_number"],
        "certificate_digest": bundle["digest"],
        "issuing_lab_id": rec["lab"]["lab_id"],
        "issuing_lab_name": rec["lab"]["name"],
    }
    if "valid_until" in rec["dates"]:
        entry["valid_until"] = rec["dates"]["valid_until"]
    return entry


def verification(
    lab: TestLab,
    number: str,
    *,
    standards: list[dict[str, Any]],
    mpe: str = "0.016",
    performed: str = "2026-04-10",
    issued: str = "2026-04-10",
    valid_until: str = "2026-10-09",
    serial: str = "YB-2026-0042",
    category: str = "JJG52",
) -> dict[str, Any]:
    """A VERIFICATION of an enterprise's pressure gauge (JJG 52, 强检) by ``lab``."""
    return {
        "schema_version": "tracecert/1",
        "kind": "VERIFICATION",
        "certificate_number": number,
        "dates": {
            "receipt_date": performed,
            "performance_begin": performed,
            "performance_end": performed,
            "issue_date": issued,
            "valid_until": valid_until,
        },
        "item": {
            "name": "一般压力表",
            "category_code": category,
            "manufacturer": "某仪表厂",
            "model": "Y-100",
            "serial_number": serial,
            "accuracy_class": "1.6",
            "mpe": {"value": mpe, "unit": "\\mega\\pascal"},
        },
        "customer": {
            "name": "某化工有限公司",
            "usci": usci("91330100MA2H00002"),
            "mandatory_verification": True,
            "use": "安全防护",
        },
        "lab": {"lab_id": lab.hex_id, "code": lab.code, "name": lab.name, "authorization_number": lab.authorization},
        "persons": [
            {"name": "周检定", "role": "PERFORMER", "id": "JD-11"},
            {"name": "吴核验", "role": "CHECKER", "id": "JD-12"},
            {"name": "郑批准", "role": "APPROVER", "id": "JD-13"},
        ],
        "method": {"reference": "JJG 52-2013", "title": "弹性元件式一般压力表、压力真空表和真空表"},
        "results": [{"quantity": "示值误差", "value": "0.008", "unit": "\\mega\\pascal"}],
        "standards_used": standards,
        "conclusion": "PASS",
    }


def chain_of_three(world: TraceWorld) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """NMI calibrates the provincial piston gauge; the provincial institute calibrates the city's precision gauge;
    the city lab calibrates an enterprise gauge. Uncertainties shrink up the chain (TUR ≥ 4 at each link)."""
    d = world.day
    [top] = world.issue(
        world.nmi,
        calibration(
            world.nmi,
            "NIM-2026-P001",
            serial="PG-7601",
            item="活塞式压力计",
            u="0.0005",
            performed=d(-10),
            issued=d(-9),
            valid_until=d(700),
            customer="浙江省计量科学研究院",
        ),
    )
    [mid] = world.issue(
        world.provincial,
        calibration(
            world.provincial,
            "ZJ-2026-Y0101",
            serial="JM-4402",
            item="精密压力表",
            u="0.002",
            performed=d(-5),
            issued=d(-4),
            valid_until=d(360),
            standards=[standard_from(top, name="活塞式压力计")],
            customer="杭州市计量检定测试院",
        ),
    )
    [leaf] = world.issue(
        world.city,
        calibration(
            world.city,
            "HZ-2026-C0033",
            serial="YB-8812",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            valid_until=d(364),
            standards=[standard_from(mid, name="精密压力表")],
            customer="某化工有限公司",
        ),
    )
    return top, mid, leaf


def tamper(bundle: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``bundle`` with ``record.<path>`` (dotted) set to ``value``."""
    copied = copy.deepcopy(bundle)
    target = copied["record"]
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    target[keys[-1]] = value
    return copied


def reuse_number(
    world: TraceWorld, leaf: dict[str, Any], standard: dict[str, Any], *, publish: bool = True
) -> dict[str, Any]:
    """The city lab anchors another gauge's certificate under ``leaf``'s number (number reuse); its bundle."""
    d = world.day
    record = calibration(
        world.city,
        leaf["record"]["certificate_number"],
        serial="YB-9999",
        item="压力表",
        u="0.02",
        performed=d(-1),
        issued=d(0),
        standards=[standard_from(standard)],
    )
    [bundle] = world.issue(world.city, record, publish=publish)
    return bundle


# ------------------------------------------------------------------------------------------------ the verifier's index
# (tests/verifier/test_index_*.py)

#: The base URL the index asks for batch listings; :class:`Mirror` answers it.
MIRROR = "https://mirror.test"


class Mirror:
    """A batch-listing mirror in memory, serving what the registry's ``GET /v1/batches/{root}`` serves."""

    def __init__(self) -> None:
        self.listings: dict[str, Any] = {}

    def publish(self, bundles: list[dict[str, Any]]) -> dict[str, Any]:
        first = bundles[0]
        listing = {
            "root": first["anchor"]["root"],
            "lab_id": first["record"]["lab"]["lab_id"],
            "key_id": first["signature"]["key_id"],
            "size": first["proof"]["tree_size"],
            "leaves": [
                {
                    "index": b["proof"]["leaf_index"],
                    "digest": b["digest"],
                    "certificate_number": b["record"]["certificate_number"],
                    "kind": b["record"]["kind"],
                    "category_code": b["record"]["item"]["category_code"],
                    "serial_number": b["record"]["item"].get("serial_number"),
                }
                for b in bundles
            ],
        }
        self.listings[listing["root"]] = listing
        return listing

    def __call__(self, url: str) -> Any:
        return copy.deepcopy(self.listings.get(url.rsplit("/", 1)[1]))


@pytest.fixture
def mirror() -> Mirror:
    return Mirror()


def issue(world: TraceWorld, mirror: Mirror, lab: Any, *records: dict[str, Any]) -> list[dict[str, Any]]:
    """Anchor records for ``lab`` and publish the batch listing on the mirror."""
    bundles = world.issue(lab, *records)
    mirror.publish(bundles)
    return bundles


def gauge_record(world: TraceWorld, lab: Any, number: str, serial: str, day: int = 0) -> dict[str, Any]:
    """A pressure gauge's calibration by ``lab``, issued ``day`` days from the world's today."""
    return calibration(
        lab, number, serial=serial, item="压力表", u="0.01", performed=world.day(day - 1), issued=world.day(day)
    )


def open_index(world: TraceWorld, path: Path, fetcher: Any, **options: Any) -> Index:
    """An index of the world's chain in ``path``, asking :data:`MIRROR` through ``fetcher``."""
    options = {"mirrors": [MIRROR], "fetcher": fetcher, "fetch_workers": 1, "retry_interval": 0.0} | options
    return Index(path, world.chain.client, world.chain.contracts.deployment, **options)


@pytest.fixture
def index(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> Iterator[Index]:
    idx = open_index(trace_world, tmp_path / "index.db", mirror)
    yield idx
    idx.close()
