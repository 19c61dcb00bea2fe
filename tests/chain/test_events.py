"""Every state change of both contracts emits its past-tense event, with the arguments of that change."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from tracecert.certificate.canonical import lab_id
from tracecert.certificate.signing import SigningKey
from tracecert.chain.sender import Receipt
from tracecert.chain.types import LabKind, RevocationReason, category_code

from .conftest import YEAR, ZERO_ADDRESS, C, V, World, certificate_digests

pytestmark = pytest.mark.chain

XIHU_CODE = "91330106MA2H4K7L3Q"  # 杭州某衡器检测有限公司, 西湖区
NEW_KEY = SigningKey.from_seed(hashlib.sha256(b"tracecert event key").digest())
D, NEW_D = certificate_digests("JD2026-E", 2)
Expected = tuple[Receipt, list[tuple[str, dict[str, Any]]]]


def _deployment(w: World) -> Expected:
    raw = w.client.rpc("eth_getTransactionReceipt", [w.contracts.deployment.tx_hashes["TrustRegistry"]])
    receipt = Receipt(raw["transactionHash"], int(raw["blockNumber"], 16), raw["blockHash"], int(raw["gasUsed"], 16),
                      int(raw["status"], 16), raw.get("contractAddress"), list(raw["logs"]))
    return receipt, [("RegulatorRegistered", {"account": w.national.address, "parent": ZERO_ADDRESS,
                                              "jurisdiction": 0, "name": "国家市场监督管理总局"})]


def _register_regulator(w: World) -> Expected:
    xihu = w.actor("xihu")
    r = w.contracts.register_regulator(w.hangzhou, xihu.address, 330106, "杭州市西湖区市场监督管理局")
    return r, [("RegulatorRegistered", {"account": xihu.address, "parent": w.hangzhou.address,
                                        "jurisdiction": 330106, "name": "杭州市西湖区市场监督管理局"})]


def _set_regulator_active(active: bool) -> Callable[[World], Expected]:
    def case(w: World) -> Expected:
        r = w.send(w.zhejiang, w.trust, "setRegulatorActive", w.hangzhou.address, active)
        return r, [("RegulatorStatusChanged", {"account": w.hangzhou.address, "active": active,
                                               "by": w.zhejiang.address})]
    return case


def _register_lab(w: World) -> Expected:
    admin, new_lab = w.actor("xh.admin"), lab_id(XIHU_CODE)
    r = w.contracts.register_lab(w.hangzhou, new_lab, LabKind.AUTHORIZED_BODY, 330106, admin.address,
                                 "杭州某衡器检测有限公司")
    return r, [
        ("LabRegistered", {"labId": new_lab, "labNumber": 4, "kind": LabKind.AUTHORIZED_BODY, "jurisdiction": 330106,
                           "admin": admin.address, "regulator": w.hangzhou.address, "name": "杭州某衡器检测有限公司"}),
        ("LabStatusChanged", {"labId": new_lab, "status": 1, "reason": 0, "by": w.hangzhou.address}),
    ]


def _authorize_lab(w: World) -> Expected:
    start = w.chain.now()
    r = w.contracts.authorize_lab(w.zhejiang, w.hz.id, "(浙)法计(2026)01001号", start, start + 5 * YEAR,
                                  {"JJG443": V, "JJG1036": V | C})
    return r, [("LabAuthorized", {
        "labId": w.hz.id, "authIndex": 1, "number": "(浙)法计(2026)01001号", "validFrom": start,
        "validUntil": start + 5 * YEAR, "categories": [category_code("JJG443"), category_code("JJG1036")],
        "activities": [1, 3], "regulator": w.zhejiang.address})]


def _suspend_lab(w: World) -> Expected:
    r = w.contracts.suspend_lab(w.hangzhou, w.hz.id, 5)
    return r, [("LabStatusChanged", {"labId": w.hz.id, "status": 2, "reason": 5, "by": w.hangzhou.address})]


def _reinstate_lab(w: World) -> Expected:
    w.contracts.suspend_lab(w.hangzhou, w.hz.id, 5)
    r = w.contracts.reinstate_lab(w.zhejiang, w.hz.id)
    return r, [("LabStatusChanged", {"labId": w.hz.id, "status": 1, "reason": 0, "by": w.zhejiang.address})]


def _revoke_lab(w: World) -> Expected:
    r = w.contracts.revoke_lab(w.national, w.hz.id, 4)
    return r, [("LabStatusChanged", {"labId": w.hz.id, "status": 3, "reason": 4, "by": w.national.address})]


def _set_lab_admin(w: World) -> Expected:
    successor = w.actor("hz.admin2")
    r = w.send(w.hz.admin, w.trust, "setLabAdmin", w.hz.id, successor.address)
    return r, [("LabAdminChanged", {"labId": w.hz.id, "admin": successor.address, "by": w.hz.admin.address})]


def _add_writer(w: World) -> Expected:
    clerk = w.actor("hz.clerk")
    r = w.contracts.add_writer(w.hz.admin, w.hz.id, clerk.address)
    return r, [("WriterAdded", {"labId": w.hz.id, "account": clerk.address, "by": w.hz.admin.address})]


def _remove_writer(w: World) -> Expected:
    r = w.contracts.remove_writer(w.hz.admin, w.hz.id, w.hz.writer.address)
    return r, [("WriterRemoved", {"labId": w.hz.id, "account": w.hz.writer.address, "by": w.hz.admin.address})]


def _register_key(w: World) -> Expected:
    start = w.chain.now() + 3600
    r = w.contracts.register_key(w.hz.admin, w.hz.id, NEW_KEY.public_key, start, start + YEAR)
    return r, [("KeyRegistered", {"labId": w.hz.id, "keyId": NEW_KEY.key_id, "publicKey": NEW_KEY.public_key,
                                  "keyNumber": 3, "validFrom": start, "validUntil": start + YEAR})]


def _close_key(w: World) -> Expected:
    r = w.contracts.close_key(w.hangzhou, w.hz.key_id, 0, 2)
    return r, [("KeyWindowClosed", {"labId": w.hz.id, "keyId": w.hz.key_id, "validUntil": w.time_of(r),
                                    "reason": 2, "by": w.hangzhou.address})]


def _anchor(w: World) -> Expected:
    batch, r = w.anchor_batch(w.js, certificate_digests("JS2026", 5))
    return r, [("BatchAnchored", {"root": batch.root, "labId": w.js.id, "keyId": w.js.key_id, "count": 5,
                                  "index": 0})]


def _revoke(w: World) -> Expected:
    effective = w.chain.now() - 3600
    r = w.contracts.revoke(w.hz.writer, w.hz.id, D, RevocationReason.KEY_COMPROMISE, effective)
    return r, [("CertificateRevoked", {"labId": w.hz.id, "digest": D, "reason": RevocationReason.KEY_COMPROMISE,
                                       "effectiveTime": effective})]


def _substitute(w: World) -> Expected:
    r = w.contracts.substitute(w.hz.writer, w.hz.id, D, NEW_D)
    return r, [("CertificateSubstituted", {"labId": w.hz.id, "digest": D, "newDigest": NEW_D})]


CASES: dict[str, tuple[Callable[[World], Expected], tuple[str, ...]]] = {
    "deployment": (_deployment, ("RegulatorRegistered",)),
    "registerRegulator": (_register_regulator, ("RegulatorRegistered",)),
    "setRegulatorActive(false)": (_set_regulator_active(False), ("RegulatorStatusChanged",)),
    "setRegulatorActive(true)": (_set_regulator_active(True), ("RegulatorStatusChanged",)),
    "registerLab": (_register_lab, ("LabRegistered", "LabStatusChanged")),
    "authorizeLab": (_authorize_lab, ("LabAuthorized",)),
    "suspendLab": (_suspend_lab, ("LabStatusChanged",)),
    "reinstateLab": (_reinstate_lab, ("LabStatusChanged",)),
    "revokeLab": (_revoke_lab, ("LabStatusChanged",)),
    "setLabAdmin": (_set_lab_admin, ("LabAdminChanged",)),
    "addWriter": (_add_writer, ("WriterAdded",)),
    "removeWriter": (_remove_writer, ("WriterRemoved",)),
    "registerKey": (_register_key, ("KeyRegistered",)),
    "closeKey": (_close_key, ("KeyWindowClosed",)),
    "anchor": (_anchor, ("BatchAnchored",)),
    "revoke": (_revoke, ("CertificateRevoked",)),
    "substitute": (_substitute, ("CertificateSubstituted",)),
}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("case", CASES)
def test_state_change_emits_its_event(world: World, case: str) -> None:
    action, names = CASES[case]
    receipt, expected = action(world)
    emitted = [(name, {k: _plain(v) for k, v in args.items()}) for name, args in world.contracts.events(receipt)]
    assert emitted == expected
    assert tuple(name for name, _ in expected) == names


def test_every_event_is_covered_and_named_in_the_past_tense(world: World) -> None:
    declared = {i["name"] for contract in (world.trust, world.certificates) for i in contract.abi
                if i["type"] == "event"}
    assert declared == {name for _, names in CASES.values() for name in names}
    assert all(name.endswith("ed") for name in declared)
