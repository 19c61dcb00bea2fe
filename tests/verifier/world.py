"""A world of three labs (NMI, provincial and city institutes) on a deployment of its own, for test modules that
keep one world for all their tests (the API, the CLI, the web page, the benchmark), and certificates bound to a
document."""

from __future__ import annotations

import hashlib
from typing import Any

from eth_account import Account

from tests.conftest import Chain
from tests.verifier.conftest import TraceWorld, _lab, calibration, usci
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabKind

__all__ = ["PDF", "build_world", "with_document"]

#: A PDF's bytes (the verifier binds a document by its SHA-256; it does not render it).
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def build_world(client: ChainClient) -> TraceWorld:
    """The same three labs as the ``trace_world`` fixture, on a fresh deployment, for a module-scoped world."""
    national_account = Account.create()
    client.set_balance(national_account.address, 10**22)
    national = TransactionSender(client, national_account)
    chain = Chain(
        client, ChainContracts(client, deploy(client, national, national_authority=national.address)), national
    )
    c = chain.contracts
    province, city_reg = chain.actor("zhejiang"), chain.actor("hangzhou")
    c.register_regulator(chain.national, province.address, 330000, "浙江省市场监督管理局")
    c.register_regulator(province, city_reg.address, 330100, "杭州市市场监督管理局")
    now = chain.now()  # windows around the node's clock, however far earlier tests have moved it
    start, end = now - 6 * 365 * 86_400, now + 10 * 365 * 86_400
    pressure = {"PRESSURE": Activity.VERIFY | Activity.CALIBRATE, "JJG52": Activity.VERIFY}
    labs = [
        (
            chain.national,
            "12100000400000624",
            "中国计量科学研究院",
            LabKind.NMI,
            110000,
            {"PRESSURE": Activity.CALIBRATE},
        ),
        (province, "12330000470000212", "浙江省计量科学研究院", LabKind.LEGAL_METROLOGY_INSTITUTE, 330000, pressure),
        (city_reg, "12330100470001234", "杭州市计量检定测试院", LabKind.LEGAL_METROLOGY_INSTITUTE, 330100, pressure),
    ]
    made = [
        _lab(chain, reg, usci(body), name, kind, juris, scope, f"AUTH-{body[-4:]}", start, end)
        for reg, body, name, kind, juris, scope in labs
    ]
    chain.advance(30 * 86_400)
    return TraceWorld(chain, chain.national, province, city_reg, *made)


def with_document(world: TraceWorld, number: str, data: bytes, media_type: str) -> dict[str, Any]:
    """An NMI certificate binding ``data`` as its original document."""
    d = world.day
    record = calibration(
        world.nmi, number, serial=f"PG-{number}", item="活塞式压力计", u="0.0005", performed=d(-2), issued=d(-1)
    )
    record["original_document"] = {"media_type": media_type, "sha256": "0x" + hashlib.sha256(data).hexdigest()}
    [bundle] = world.issue(world.nmi, record)
    return bundle
