"""Registry fixtures: a lab onboarded on a fresh deployment, a registry core over SQLite or PostgreSQL, records."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.db import make_engine, migrate
from tests.conftest import Chain
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.signing import SigningKey, generate_key
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

    def record(self, number: str = "JD2026-00001", **changes: Any) -> dict[str, Any]:
        """A valid VERIFICATION record of the lab (an electronic price scale), with ``changes`` applied by path."""
        record = copy.deepcopy(json.loads(RECORD.read_text(encoding="utf-8")))
        record["certificate_number"] = number
        record["lab"]["lab_id"] = self.lab_id
        record["lab"]["code"] = LAB_CODE
        record["lab"]["name"] = "杭州市计量检定测试院"
        record["lab"]["authorization_number"] = "(浙)法计(2026)01001号"
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


def onboard(
    chain: Chain,
    core: RegistryCore,
    province: TransactionSender,
    code: str,
    name: str,
    jurisdiction: int,
    scope: dict[str, Activity],
) -> tuple[str, TransactionSender, SigningKey, str]:
    """Register, authorize and onboard a lab: on chain (regulator, lab admin) and with the registry."""
    lab = derive_lab_id(code)
    admin = chain.actor(f"admin-{code}")
    c = chain.contracts
    c.register_lab(province, lab, LabKind.LEGAL_METROLOGY_INSTITUTE, jurisdiction, admin.address, name)
    now = chain.now()
    c.authorize_lab(province, lab, "(浙)法计(2026)01001号", now - 86_400, now + 3 * 365 * 86_400, scope)
    row = core.add_lab(code, name)
    c.add_writer(admin, lab, row.writer_address)
    chain.client.set_balance(row.writer_address, 10**22)
    own = generate_key()
    c.register_key(admin, lab, own.public_key)
    held = core.new_held_signing_key(to_hex(lab))
    c.register_key(admin, lab, held.public_key)
    return to_hex(lab), admin, own, to_hex(held.key_id)


@pytest.fixture
def world(chain: Chain, database_url: str, tmp_path: Path) -> Iterator[LabWorld]:
    """One provincial regulator (Zhejiang), a Hangzhou lab and a Nanjing lab, both onboarded."""
    province = chain.actor("province")
    chain.contracts.register_regulator(chain.national, province.address, 330000, "浙江省市场监督管理局")
    jiangsu = chain.actor("jiangsu")
    chain.contracts.register_regulator(chain.national, jiangsu.address, 320000, "江苏省市场监督管理局")
    core = RegistryCore(_settings(tmp_path, database_url), _migrated(database_url), chain.contracts)
    scope = {"0201": Activity.VERIFY, "PRESSURE": Activity.VERIFY | Activity.CALIBRATE}
    lab_id, admin, own, held = onboard(chain, core, province, LAB_CODE, "杭州市计量检定测试院", 330100, scope)
    other_id, _, _, _ = onboard(chain, core, jiangsu, OTHER_LAB_CODE, "南京市计量监督检测院", 320100, scope)
    core.add_regulator_account(bytes(province._account.key))
    _, token = core.issue_token("LAB", lab_id=lab_id, label="LIMS")
    _, other_token = core.issue_token("LAB", lab_id=other_id)
    _, regulator_token = core.issue_token("REGULATOR", regulator_address=province.address)
    yield LabWorld(chain, core, province, admin, lab_id, own, held, token, other_id, other_token, regulator_token)
    core.engine.dispose()


def _migrated(url: str) -> Any:
    engine = make_engine(url)
    migrate(engine)
    return engine


RecordFactory = Callable[..., dict[str, Any]]
