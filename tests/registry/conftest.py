"""Registry fixtures: a lab onboarded on a fresh deployment, a registry core over SQLite or PostgreSQL, records."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.db import Certificate, make_engine, migrate
from registry.onboarding import authorize_lab, ensure_lab, onboard_lab
from tests.conftest import Chain, PostgresServer, Snapshot, new_chain
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.signing import SigningKey, generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabKind

RECORD = Path(__file__).parents[1] / "certificate" / "data" / "verification-record.json"
LAB_CODE = "12330100470001234X"
OTHER_LAB_CODE = "12320100470005678K"


@dataclass
class LabWorld:
    """A chain with a provincial regulator and two labs onboarded with the registry."""

    chain: Chain
    core: RegistryCore
    province: TransactionSender
    admin: TransactionSender
    lab_id: str
    lab_key: SigningKey  # a key the lab holds itself (lab-signing mode)
    held_key_id: str  # a key the registry holds (registry-signing mode)
    token: str
    other_lab_id: str
    other_token: str
    regulator_token: str
    #: The NMI's anchored certificate of the weights the lab verifies with: what every record cites.
    standard: dict[str, Any]

    def day(self, offset: int = 0) -> str:
        """The chain's current date in China (UTC+8) plus ``offset`` days, as ``YYYY-MM-DD``."""
        return chain_day(self.chain, offset)

    def record(self, number: str = "JD2026-00001", **changes: Any) -> dict[str, Any]:
        """A VERIFICATION record of the lab (an electronic price scale) that passes every check of the rulebook:
        done yesterday, issued today, citing the NMI's anchored certificate of the weights used, for the scale of
        :data:`CUSTOMER` (a Hangzhou gas station, which the enterprise tests register); ``changes`` applied by
        path."""
        return fresh_record(self, LAB_CODE, "杭州市计量检定测试院", number, **({"customer__usci": CUSTOMER} | changes))


def chain_day(chain: Chain, offset: int = 0) -> str:
    """The chain's current date in China (UTC+8) plus ``offset`` days."""
    tz = dt.timezone(dt.timedelta(hours=8))
    return (dt.datetime.fromtimestamp(chain.now(), tz).date() + dt.timedelta(days=offset)).isoformat()


def fresh_record(world: LabWorld, code: str, name: str, number: str, **changes: Any) -> dict[str, Any]:
    """A VERIFICATION record of the lab with ``code`` and ``name`` (see :meth:`LabWorld.record`)."""
    today = dt.date.fromisoformat(world.day(0))
    return lab_record(code, name, number, standard=world.standard, today=today, **changes)


def lab_record(
    code: str,
    name: str,
    number: str,
    *,
    standard: dict[str, Any] | None = None,
    today: dt.date | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A VERIFICATION record (an electronic price scale, category 0201) of the lab with ``code`` and ``name``; with
    ``standard`` (the bundle of the weights' certificate) and ``today``, one the rulebook accepts: done yesterday,
    issued today, citing that standard. ``changes`` are applied by path (``a__b``; None removes)."""
    record = copy.deepcopy(json.loads(RECORD.read_text(encoding="utf-8")))
    record["certificate_number"] = number
    record["lab"].update(
        lab_id=to_hex(derive_lab_id(code)), code=code, name=name, authorization_number="(浙)法计(2026)01001号"
    )
    if today is not None:
        day = functools.partial(_plus, today)
        record["dates"] = {"receipt_date": day(-2), "performance_begin": day(-1), "performance_end": day(-1),
                           "issue_date": day(0), "valid_until": day(364)}  # fmt: skip
    if standard is not None:
        cited = standard["record"]
        record["standards_used"] = [
            {
                "name": "M1 等级砝码",
                "serial_number": cited["item"]["serial_number"],
                "certificate_number": cited["certificate_number"],
                "certificate_digest": standard["digest"],
                "issuing_lab_id": cited["lab"]["lab_id"],
                "issuing_lab_name": cited["lab"]["name"],
                "valid_until": cited["dates"]["valid_until"],
                "mpe": {"value": "0.75", "unit": "\\gram"},
            }
        ]
    for path, value in changes.items():
        target = record
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return record


def _plus(day: dt.date, days: int) -> str:
    return (day + dt.timedelta(days=days)).isoformat()


def _settings(tmp_path: Path, database_url: str) -> RegistrySettings:
    return RegistrySettings(
        data_dir=tmp_path,
        database_url=database_url,
        secret="s" * 40,  # type: ignore[arg-type]
        authorization_cache_seconds=0,
        batch_window_seconds=0.2,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: SQLite file, or a database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.new_database())


class WorldTemplate:
    """The registry's world built once per session and backend, on a node of its own: the node's snapshot and the
    database right after the build. A test gets a copy of that database (SQLite's backup API, PostgreSQL's
    ``CREATE DATABASE … TEMPLATE``), the node reverted to the snapshot, and fresh senders: the world exactly as
    :func:`build_world` leaves it, in a tenth of the time of building it again."""

    def __init__(self, client: ChainClient, directory: Path, url: str, postgres: PostgresServer | None) -> None:
        self.url, self.postgres = url, postgres
        self.world = standalone_world(client, url, directory)
        self.world.core.engine.dispose()
        self.snapshot = Snapshot(client)

    def copy(self, url: str, tmp_path: Path) -> LabWorld:
        """The built world on the reverted node, over a copy of the template's database at ``url``."""
        self.snapshot.restore()
        if self.postgres is None:
            source, target = (sqlite3.connect(u.removeprefix("sqlite:///")) for u in (self.url, url))
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        else:
            self.postgres.copy(self.url, url)
        chain = self.world.chain.fresh()
        core = RegistryCore(_settings(tmp_path, url), make_engine(url), chain.contracts)
        return replace(
            self.world, chain=chain, core=core, province=chain.actor("province"), admin=chain.actor(f"admin-{LAB_CODE}")
        )


@pytest.fixture(scope="session")
def world_templates() -> dict[str, WorldTemplate]:
    """The world template of each backend, built when a test first needs it."""
    return {}


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    world_templates: dict[str, WorldTemplate],
    own_node: Callable[[], AnvilNode],
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    tmp_path: Path,
) -> Iterator[LabWorld]:
    """One provincial regulator (Zhejiang), a Hangzhou lab and a Nanjing lab, both onboarded; the NMI's anchored
    certificate of the weights their records cite. Built once per backend (:class:`WorldTemplate`); each test gets
    it exactly as built, on a database of its own."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgres"
    if kind not in world_templates:
        directory = tmp_path_factory.mktemp(f"registry-{kind}")
        if kind == "sqlite":
            world_templates[kind] = WorldTemplate(
                ChainClient(own_node().url), directory, f"sqlite:///{directory / 'template.db'}", None
            )
        else:
            server = request.getfixturevalue("postgres_server")
            world_templates[kind] = WorldTemplate(ChainClient(own_node().url), directory, server.new_database(), server)
    world = world_templates[kind].copy(database_url, tmp_path)
    yield world
    world.core.engine.dispose()


def onboard(
    chain: Chain,
    core: RegistryCore,
    province: TransactionSender,
    code: str,
    name: str,
    jurisdiction: int,
    scope: dict[str, Activity],
    *,
    kind: LabKind = LabKind.LEGAL_METROLOGY_INSTITUTE,
) -> tuple[str, TransactionSender, SigningKey, str]:
    """Register, authorize and onboard a lab as the CLI does (registry.onboarding): on chain by the regulator, then
    with the registry (its writer account, a key the lab holds, a key the registry holds)."""
    lab = derive_lab_id(code)
    admin = chain.actor(f"admin-{code}")
    ensure_lab(chain.contracts, province, lab, kind, jurisdiction, admin.address, name)
    now = chain.now()
    authorize_lab(chain.contracts, province, lab, "(浙)法计(2026)01001号", now - 86_400, now + 3 * 365 * 86_400, scope)
    own = generate_key()
    onboard_lab(core, admin, code, name, public_key=own.public_key, fund_writer=True)
    held = onboard_lab(core, admin, code, name)  # registry-signing mode: a key the registry generates and holds
    return to_hex(lab), admin, own, held.key_id


def standalone_world(client: ChainClient, url: str, directory: Path) -> LabWorld:
    """The world on a fresh deployment of ``client``'s node over the empty database at ``url``: for a world kept
    by a module on the session's node, which no snapshot revert touches."""
    chain = new_chain(client)
    return build_world(chain, RegistryCore(_settings(directory, url), _migrated(url), chain.contracts))


def build_world(chain: Chain, core: RegistryCore) -> LabWorld:
    """Regulators, labs, keys and tokens on ``chain`` and in ``core``; three days pass; the NMI's standard is
    anchored (see :class:`LabWorld`)."""
    province = chain.actor("province")
    chain.contracts.register_regulator(chain.national, province.address, 330000, "浙江省市场监督管理局")
    jiangsu = chain.actor("jiangsu")
    chain.contracts.register_regulator(chain.national, jiangsu.address, 320000, "江苏省市场监督管理局")
    scope = {"0201": Activity.VERIFY, "PRESSURE": Activity.VERIFY | Activity.CALIBRATE}
    lab_id, admin, own, held = onboard(chain, core, province, LAB_CODE, "杭州市计量检定测试院", 330100, scope)
    other_id, _, _, _ = onboard(chain, core, jiangsu, OTHER_LAB_CODE, "南京市计量监督检测院", 320100, scope)
    nmi_id, _, _, _ = onboard(
        chain, core, chain.national, NMI_CODE, NMI_NAME, 110000, {"MASS": Activity.CALIBRATE}, kind=LabKind.NMI
    )
    core.add_regulator_account(bytes(province._account.key))
    _, token = core.issue_token("LAB", lab_id=lab_id, label="LIMS")
    _, other_token = core.issue_token("LAB", lab_id=other_id)
    _, regulator_token = core.issue_token("REGULATOR", regulator_address=province.address)
    # Keys cannot start in the past: let three days pass, so that the work of the last two days falls inside every
    # window (not more: the session's node is shared, and its clock only moves on).
    chain.advance(3 * 86_400)
    standard = nmi_standard(core, nmi_id, chain)
    core.forget_chain_answers()  # the chain clock it cached while anchoring the standard: tests start afresh
    return LabWorld(
        chain, core, province, admin, lab_id, own, held, token, other_id, other_token, regulator_token, standard
    )


#: The customer of the lab's records: a gas station in Hangzhou (region 330106, under the world's regulator).
CUSTOMER = "91330106MA27XK5L3M"
NMI_CODE = "12100000400000624D"  # 统一社会信用代码 with its check character
NMI_NAME = "中国计量科学研究院"


def nmi_standard(core: RegistryCore, nmi_id: str, chain: Chain, *, number: str = "NIM-2026-M0001") -> dict[str, Any]:
    """The NMI calibrates the lab's M1 weights (published, anchored): the top of every test record's traceability
    chain. Returns its proof bundle."""
    from registry.anchoring import AnchoringWorker
    from registry.issuance import Submission, accept
    from registry.reads import anchored_bundle

    d = functools.partial(chain_day, chain)
    record = copy.deepcopy(json.loads(RECORD.read_text(encoding="utf-8")))
    record.update(
        kind="CALIBRATION",
        certificate_number=number,
        dates={"receipt_date": d(-2), "performance_begin": d(-2), "performance_end": d(-2), "issue_date": d(-2),
               "valid_until": d(700)},
        item={"name": "M1 等级砝码", "category_code": "MASS", "manufacturer": "某衡器厂", "model": "M1-20kg",
              "serial_number": "FM-2019-88"},
        customer={"name": "杭州市计量检定测试院", "usci": "12330100470001234C"},
        lab={"lab_id": nmi_id, "code": NMI_CODE, "name": NMI_NAME},
        method={"reference": "JJF 1001-2011", "title": "砝码校准"},
        results=[{"quantity": "折算质量修正值 (20 kg)", "value": "0.05", "unit": "\\gram",
                  "expanded_uncertainty": "0.1", "coverage_factor": "2", "coverage_probability": "0.95"}],
        standards_used=[],
    )  # fmt: skip
    record.pop("conclusion", None)
    _, token = core.issue_token("LAB", lab_id=nmi_id, label="NMI")
    accepted = accept(core, core.authenticate(token), Submission(record, public=True))
    AnchoringWorker(core).drain()
    with core.sessions() as s:
        row = s.scalar(select(Certificate).where(Certificate.digest == accepted.digest))
    assert row is not None, accepted
    bundle = anchored_bundle(core, row)
    assert bundle is not None, (row.status, row.error)
    return bundle


def _migrated(url: str) -> Any:
    engine = make_engine(url)
    migrate(engine)
    return engine


RecordFactory = Callable[..., dict[str, Any]]
