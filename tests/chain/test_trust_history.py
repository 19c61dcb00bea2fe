"""TrustRegistry: a lab's status over time (suspension, reinstatement, revocation), its admin, the NMI's governance,
and the historical queries the verifier asks (authorized and active at a moment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tracecert.certificate.canonical import lab_id
from tracecert.chain.types import Activity, LabKind, LabStatus

from .conftest import (
    AUTHORIZATION_TERM,
    BEIJING,
    DAY,
    HANGZHOU,
    HZ_AUTH_NUMBER,
    JIANGSU,
    YEAR,
    ZHEJIANG,
    C,
    V,
    World,
    case_id,
    reverts,
)

pytestmark = pytest.mark.chain


NEW_LAB = lab_id("91330106MA2H4K7L3Q")  # 杭州某衡器检测有限公司
FUTURE = 4_000_000_000  # 2096: a window bound that is always ahead of the chain clock
T0 = 1_900_000_000  # 2030: a window start (as in test_trust_registry.py)


# ---------------------------------------------------------------- lab status

STATUS_ACTIONS = {
    "suspend": lambda w, s, lab: w.contracts.suspend_lab(s, lab, 1),
    "reinstate": lambda w, s, lab: w.contracts.reinstate_lab(s, lab),
    "revoke": lambda w, s, lab: w.contracts.revoke_lab(s, lab, 4),
}


@pytest.mark.parametrize(
    ("steps", "final"),
    [
        (["suspend"], LabStatus.SUSPENDED),  # 暂停
        (["suspend", "reinstate"], LabStatus.ACTIVE),  # 恢复
        (["revoke"], LabStatus.REVOKED),  # 撤销 an active lab
        (["suspend", "revoke"], LabStatus.REVOKED),  # ... or a suspended one
        (["suspend", "reinstate", "suspend"], LabStatus.SUSPENDED),  # suspended again after a reinstatement
    ],
    ids=case_id,
)
def test_status_transitions_are_appended_to_the_history(world: World, steps: list[str], final: LabStatus) -> None:
    times = [world.hz.registered_at]
    for step in steps:
        times.append(world.time_of(STATUS_ACTIONS[step](world, world.hangzhou, world.hz.id)))
    assert world.trust_call("lab", world.hz.id)[0] == final
    history = world.trust_call("statusHistory", world.hz.id)
    assert [h[0] for h in history] == times
    assert history[-1][1:] == (final, {"suspend": 1, "reinstate": 0, "revoke": 4}[steps[-1]], world.hangzhou.address)
    assert history[0][1:] == (LabStatus.ACTIVE, 0, world.hangzhou.address)


@pytest.mark.parametrize(
    ("before", "step", "error_args"),
    [
        ([], "reinstate", (1, 1)),  # reinstating an active lab
        (["suspend"], "suspend", (2, 2)),  # suspending a suspended lab
        (["revoke"], "suspend", (3, 2)),  # suspending a revoked lab
        (["revoke"], "reinstate", (3, 1)),  # revocation is terminal
        (["revoke"], "revoke", (3, 3)),  # revoking twice
    ],
    ids=case_id,
)
def test_invalid_status_transitions(world: World, before: list[str], step: str, error_args: tuple[int, int]) -> None:
    for previous in before:
        STATUS_ACTIONS[previous](world, world.hangzhou, world.hz.id)
    with reverts("TrustRegistryInvalidStatusChange", world.hz.id, *error_args):
        STATUS_ACTIONS[step](world, world.hangzhou, world.hz.id)


@pytest.mark.parametrize("step", STATUS_ACTIONS)
@pytest.mark.parametrize(
    ("caller", "lab", "error", "args"),
    [
        # the Jiangsu bureau on a Hangzhou lab
        ("jiangsu", "$hz", "TrustRegistryOutsideJurisdiction", ("@jiangsu", HANGZHOU)),
        # the Hangzhou bureau on a Jiangsu lab
        ("hangzhou", "$js", "TrustRegistryOutsideJurisdiction", ("@hangzhou", JIANGSU)),
        # a lab cannot change its own status
        ("hz.admin", "$hz", "TrustRegistryNotRegulator", ("@hz.admin",)),
        # nor can anyone else
        ("outsider", "$hz", "TrustRegistryNotRegulator", ("@outsider",)),
        # an unknown lab
        ("hangzhou", NEW_LAB, "TrustRegistryUnknownLab", (NEW_LAB,)),
    ],
    ids=case_id,
)
def test_status_change_refused(
    world: World, step: str, caller: str, lab: Any, error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        STATUS_ACTIONS[step](world, world.actor(caller), world.resolve(lab))


@pytest.mark.parametrize(("caller", "jurisdiction"), [("zhejiang", ZHEJIANG), ("national", 0)])
def test_status_change_by_a_higher_regulator(world: World, caller: str, jurisdiction: int) -> None:
    """A higher regulator's suspension binds the city below it: only the higher one (or one above it) lifts it. The
    higher one lifts the city's own suspension, and revokes."""
    higher = world.actor(caller)
    world.contracts.suspend_lab(higher, world.hz.id, 2)
    with reverts("TrustRegistryDecisionOfHigherAuthority", higher.address, jurisdiction):
        world.contracts.reinstate_lab(world.hangzhou, world.hz.id)
    world.contracts.reinstate_lab(higher, world.hz.id)
    world.contracts.suspend_lab(world.hangzhou, world.hz.id, 2)
    world.contracts.reinstate_lab(higher, world.hz.id)
    world.contracts.revoke_lab(higher, world.hz.id, 3)
    assert [change[3] for change in world.trust_call("statusHistory", world.hz.id)][-5:] == [
        higher.address, higher.address, world.hangzhou.address, higher.address, higher.address
    ]
    assert world.trust_call("lab", world.hz.id)[0] == LabStatus.REVOKED


@pytest.mark.parametrize("caller", ["hz.admin", "hangzhou", "zhejiang", "national"])
def test_set_lab_admin_by_admin_or_regulator(world: World, caller: str) -> None:
    """The admin hands over at any time; a regulator over the lab names one only while the lab is suspended."""
    successor = world.actor("hz.admin2")
    if caller != "hz.admin":
        world.contracts.suspend_lab(world.hangzhou, world.hz.id, 10)
    world.send(world.actor(caller), world.trust, "setLabAdmin", world.hz.id, successor.address)
    assert world.trust_call("lab", world.hz.id)[5] == successor.address
    # The CertificateRegistry follows: the new admin manages keys, the old one no longer does.
    world.contracts.add_writer(successor, world.hz.id, world.actor("hz.writer2").address)
    with reverts("CertificateRegistryNotLabAdmin", world.hz.admin.address, world.hz.id):
        world.contracts.add_writer(world.hz.admin, world.hz.id, world.actor("hz.writer3").address)


@pytest.mark.parametrize(
    ("caller", "lab", "admin", "error", "args"),
    [
        # the lab's writer is not its admin
        ("hz.writer", "$hz", "@hz.writer", "TrustRegistryNotRegulator", ("@hz.writer",)),
        # another lab's admin
        ("js.admin", "$hz", "@js.admin", "TrustRegistryNotRegulator", ("@js.admin",)),
        # an outsider
        ("outsider", "$hz", "@outsider", "TrustRegistryNotRegulator", ("@outsider",)),
        # a regulator of another province
        ("jiangsu", "$hz", "@outsider", "TrustRegistryOutsideJurisdiction", ("@jiangsu", HANGZHOU)),
        # the lab's own regulator while the lab is active: no silent takeover of a lab that issues
        ("hangzhou", "$hz", "@outsider", "TrustRegistryLabNotSuspended", ("$hz", int(LabStatus.ACTIVE))),
        # a regulator's account never becomes a lab's admin, not even by the admin's own hand-over
        ("hz.admin", "$hz", "@zhejiang", "TrustRegistryAdminIsRegulator", ("@zhejiang",)),
        ("hangzhou", "$hz", "@hangzhou", "TrustRegistryAdminIsRegulator", ("@hangzhou",)),
        # the zero address, even by the admin
        ("hz.admin", "$hz", "@zero", "TrustRegistryZeroAddress", ()),
        # an unknown lab
        ("hangzhou", NEW_LAB, "@outsider", "TrustRegistryUnknownLab", (NEW_LAB,)),
    ],
    ids=case_id,
)
def test_set_lab_admin_refused(
    world: World, caller: str, lab: Any, admin: str, error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        world.send(world.actor(caller), world.trust, "setLabAdmin", world.resolve(lab), world.resolve(admin))


NMI_ACTIONS = {
    "suspend": lambda w, s: w.contracts.suspend_lab(s, w.nmi_id),
    "set-admin": lambda w, s: w.send(s, w.trust, "setLabAdmin", w.nmi_id, w.actor("outsider").address),
    "authorize": lambda w, s: w.contracts.authorize_lab(s, w.nmi_id, "京法计", T0, FUTURE, {"JJG443": V}),
}


@pytest.mark.parametrize("action", NMI_ACTIONS)
def test_only_the_national_authority_governs_an_nmi(world: World, action: str) -> None:
    beijing = world.chain.actor("beijing")
    world.contracts.register_regulator(world.national, beijing.address, BEIJING, "北京市市场监督管理局")
    with reverts("TrustRegistryOutsideJurisdiction", beijing.address, BEIJING):
        NMI_ACTIONS[action](world, beijing)


# ---------------------------------------------------------------- historical queries


def _answers(world: World, lab: bytes, questions: Mapping[str, tuple[int, str, int]]) -> dict[str, bool]:
    return {
        name: world.contracts.is_authorized(lab, category, Activity(activity), t)
        for name, (t, category, activity) in questions.items()
    }


def test_is_authorized_over_the_window_and_scope(world: World) -> None:
    start, end = world.hz.auth_from, world.hz.auth_until
    questions = {
        "before registration and window": (start - 1, "JJG443", V),
        "first second of the window": (start, "JJG443", V),
        "verify, in scope": (start + DAY, "JJG443", V),
        "verify and calibrate, in scope": (start + DAY, "JJG52", V | C),
        "calibrate only, in scope": (start + DAY, "JJG52", C),
        "calibrate, category verify-only": (start + DAY, "JJG443", C),
        "verify and calibrate, category verify-only": (start + DAY, "JJG443", V | C),
        "category out of scope": (start + DAY, "JJG1036", V),
        "no activity": (start + DAY, "JJG52", 0),
        "last second of the window": (end - 1, "JJG52", C),
        "window end (exclusive)": (end, "JJG443", V),
        "years later": (end + YEAR, "JJG443", V),
    }
    expected = {
        name: name
        in {
            "first second of the window",
            "verify, in scope",
            "verify and calibrate, in scope",
            "calibrate only, in scope",
            "last second of the window",
        }
        for name in questions
    }
    assert _answers(world, world.hz.id, questions) == expected
    after = world.contracts.lab_at(world.hz.id, end)
    assert (after["status"], after["authorized"], after["number"], after["valid_until"]) == (1, False, "", 0)


def test_unknown_lab_is_not_authorized(world: World) -> None:
    now = world.chain.now()
    assert world.contracts.is_authorized(NEW_LAB, "JJG443", V, now) is False
    assert world.contracts.lab_at(NEW_LAB, now) == {
        "lab_number": 0,
        "kind": 0,
        "jurisdiction": 0,
        "status": 0,
        "authorized": False,
        "auth_index": 0,
        "number": "",
        "valid_from": 0,
        "valid_until": 0,
    }
    with reverts("TrustRegistryUnknownLab", NEW_LAB):
        world.trust_call("statusAt", NEW_LAB, now)


def test_history_survives_suspension_reinstatement_and_revocation(world: World) -> None:
    c, hz = world.contracts, world.hz
    world.chain.advance(30 * DAY)
    suspended = world.time_of(c.suspend_lab(world.hangzhou, hz.id, 1))
    world.chain.advance(7 * DAY)
    reinstated = world.time_of(c.reinstate_lab(world.hangzhou, hz.id))
    world.chain.advance(90 * DAY)
    revoked = world.time_of(c.revoke_lab(world.zhejiang, hz.id, 4))
    times = {
        "while active": hz.registered_at + DAY,
        "just before the suspension": suspended - 1,
        "suspended": suspended,
        "during the suspension": reinstated - 1,
        "reinstated": reinstated,
        "just before the revocation": revoked - 1,
        "revoked": revoked,
        "after the revocation, inside the window": revoked + YEAR,
    }
    status = {name: world.trust_call("statusAt", hz.id, t) for name, t in times.items()}
    assert status == {
        "while active": LabStatus.ACTIVE,
        "just before the suspension": LabStatus.ACTIVE,
        "suspended": LabStatus.SUSPENDED,
        "during the suspension": LabStatus.SUSPENDED,
        "reinstated": LabStatus.ACTIVE,
        "just before the revocation": LabStatus.ACTIVE,
        "revoked": LabStatus.REVOKED,
        "after the revocation, inside the window": LabStatus.REVOKED,
    }
    authorized = {name: c.is_authorized(hz.id, "JJG52", V | C, t) for name, t in times.items()}
    assert authorized == {name: s == LabStatus.ACTIVE for name, s in status.items()}
    # labAt tells the status apart from the authorization: the window still covers a revoked lab's dates.
    at = c.lab_at(hz.id, times["during the suspension"])
    assert at == {
        "lab_number": 2,
        "kind": LabKind.LEGAL_METROLOGY_INSTITUTE,
        "jurisdiction": HANGZHOU,
        "status": LabStatus.SUSPENDED,
        "authorized": True,
        "auth_index": 0,
        "number": HZ_AUTH_NUMBER,
        "valid_from": hz.auth_from,
        "valid_until": hz.auth_until,
    }


def test_renewal_changes_the_answer_only_inside_its_window(world: World) -> None:
    c, hz = world.contracts, world.hz
    renewed_from = world.chain.advance(YEAR)
    renewed_until = renewed_from + AUTHORIZATION_TERM
    # The 复查换证 narrows 压力表 to verification and adds 电子天平.
    c.authorize_lab(
        world.hangzhou,
        hz.id,
        "(浙)法计(2026)01001号",
        renewed_from,
        renewed_until,
        {"JJG443": V | C, "JJG52": V, "JJG1036": V},
    )
    old, new, after_old = hz.registered_at + DAY, renewed_from + DAY, hz.auth_until + DAY
    questions = {
        "old window: 压力表 calibration": (old, "JJG52", C),
        "old window: 电子天平": (old, "JJG1036", V),
        "old window: 加油机 calibration": (old, "JJG443", C),
        "new window: 压力表 calibration": (new, "JJG52", C),
        "new window: 压力表 verification": (new, "JJG52", V),
        "new window: 电子天平": (new, "JJG1036", V),
        "new window: 加油机 calibration": (new, "JJG443", C),
        "after the old window ended: 电子天平": (after_old, "JJG1036", V),
        "after the new window ended": (renewed_until, "JJG52", V),
    }
    assert _answers(world, hz.id, questions) == {
        "old window: 压力表 calibration": True,
        "old window: 电子天平": False,
        "old window: 加油机 calibration": False,
        "new window: 压力表 calibration": False,
        "new window: 压力表 verification": True,
        "new window: 电子天平": True,
        "new window: 加油机 calibration": True,
        "after the old window ended: 电子天平": True,
        "after the new window ended": False,
    }
    assert [c.lab_at(hz.id, t)["auth_index"] for t in (old, new, after_old)] == [0, 1, 1]
    assert c.lab_at(hz.id, old)["number"] == HZ_AUTH_NUMBER


def test_backdated_authorization_counts_before_registration(world: World) -> None:
    # A lab authorized on paper years before it joined the chain: the regulator attests the earlier window.
    now = world.chain.now()
    world.contracts.register_lab(
        world.hangzhou,
        NEW_LAB,
        LabKind.AUTHORIZED_BODY,
        HANGZHOU,
        world.actor("new.admin").address,
        "杭州某衡器检测有限公司",
    )
    world.contracts.authorize_lab(
        world.hangzhou, NEW_LAB, "(杭)法计(2022)00031号", now - 3 * YEAR, now + 2 * YEAR, {"JJG443": V}
    )
    assert world.contracts.is_authorized(NEW_LAB, "JJG443", V, now - 2 * YEAR) is True
    assert world.contracts.is_authorized(NEW_LAB, "JJG443", V, now - 4 * YEAR) is False


def test_registered_but_never_authorized_lab(world: World) -> None:
    world.contracts.register_lab(
        world.hangzhou,
        NEW_LAB,
        LabKind.AUTHORIZED_BODY,
        HANGZHOU,
        world.actor("new.admin").address,
        "杭州某衡器检测有限公司",
    )
    now = world.chain.now()
    assert world.contracts.is_authorized(NEW_LAB, "JJG443", V, now) is False
    assert world.trust_call("statusAt", NEW_LAB, now) == LabStatus.ACTIVE
    assert world.trust_call("statusAt", NEW_LAB, now - DAY) == LabStatus.NONE
    assert world.contracts.lab_at(NEW_LAB, now)["authorized"] is False


@pytest.mark.parametrize("when", ["a second before registration", "1970"])
def test_status_before_registration_is_none_as_documented(world: World, when: str) -> None:
    """Before registration a lab is ACTIVE only where a recorded authorization covers the time; hz's starts at
    its registration, so both moments are NONE."""
    t = {"a second before registration": world.hz.registered_at - 1, "1970": 0}[when]
    assert world.trust_call("statusAt", world.hz.id, t) == LabStatus.NONE
    assert world.contracts.lab_at(world.hz.id, t)["status"] == LabStatus.NONE
