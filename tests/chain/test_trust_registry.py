"""TrustRegistry: regulators and their jurisdictions, labs and their authorizations and status, and the
historical questions a verifier asks ("was lab L authorized for category C and activity A at time T?")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tracecert.certificate.canonical import lab_id
from tracecert.chain.deploy import deploy
from tracecert.chain.types import NATIONAL, Activity, LabKind, LabStatus, category_code

from .conftest import (
    AUTHORIZATION_TERM,
    BEIJING,
    DAY,
    HANGZHOU,
    HZ_AUTH_NUMBER,
    JIANGSU,
    NANJING,
    NINGBO,
    YEAR,
    ZERO32,
    ZERO_ADDRESS,
    ZHEJIANG,
    C,
    V,
    World,
    case_id,
    reverts,
)

pytestmark = pytest.mark.chain

XIHU = 330106  # 杭州市西湖区
NEW_LAB = lab_id("91330106MA2H4K7L3Q")  # 杭州某衡器检测有限公司
FUTURE = 4_000_000_000  # 2096: a window bound that is always ahead of the chain clock


# ---------------------------------------------------------------- codes shared with Python


@pytest.mark.parametrize(
    ("constant", "value"),
    [(f"KIND_{k.name}", k) for k in LabKind]
    + [(f"STATUS_{s.name}", s) for s in LabStatus if s is not LabStatus.NONE]
    + [(f"ACTIVITY_{a.name}", a) for a in Activity]
    + [("NATIONAL", NATIONAL)],
)
def test_python_codes_equal_contract_constants(world: World, constant: str, value: int) -> None:
    assert world.trust_call(constant) == value


def test_every_contract_constant_has_a_python_code(world: World) -> None:
    prefixes = ("KIND_", "STATUS_", "ACTIVITY_")
    on_chain = {
        i["name"]
        for i in world.trust.abi
        if i["type"] == "function" and not i["inputs"] and i["name"].startswith(prefixes)
    }
    in_python = (
        {f"KIND_{k.name}" for k in LabKind}
        | {f"STATUS_{s.name}" for s in LabStatus if s}
        | {f"ACTIVITY_{a.name}" for a in Activity}
    )
    assert on_chain == in_python


# ---------------------------------------------------------------- regulators


def test_national_authority_cannot_be_the_zero_address(world: World) -> None:
    with reverts("TrustRegistryZeroAddress"):
        deploy(world.client, world.national, national_authority=ZERO_ADDRESS)


def test_regulators_form_a_tree_of_jurisdictions(world: World) -> None:
    xihu = world.chain.actor("xihu")
    world.contracts.register_regulator(world.hangzhou, xihu.address, XIHU, "杭州市西湖区市场监督管理局")

    def record(sender: Any) -> tuple[Any, ...]:
        return tuple(world.trust_call("regulator", sender.address))

    assert record(world.national) == (NATIONAL, True, True, ZERO_ADDRESS)
    assert record(world.zhejiang) == (ZHEJIANG, True, True, world.national.address)
    assert record(world.hangzhou) == (HANGZHOU, True, True, world.zhejiang.address)
    assert record(xihu) == (XIHU, True, True, world.hangzhou.address)
    assert record(world.jiangsu) == (JIANGSU, True, True, world.national.address)
    assert record(world.hz.admin) == (0, False, False, ZERO_ADDRESS)


@pytest.mark.parametrize(
    ("parent", "child", "covered"),
    [
        (NATIONAL, ZHEJIANG, True),  # the national jurisdiction covers every region
        (ZHEJIANG, HANGZHOU, True),  # a province covers its cities
        (ZHEJIANG, XIHU, True),  # ... and their districts
        (HANGZHOU, XIHU, True),  # a city covers its districts
        (HANGZHOU, HANGZHOU, True),  # a code covers itself
        (HANGZHOU, NINGBO, False),  # not a sibling city
        (HANGZHOU, ZHEJIANG, False),  # nor its province
        (ZHEJIANG, NANJING, False),  # nor another province's city
        (XIHU, 330105, False),  # a district covers only itself
        (ZHEJIANG, NATIONAL, False),  # no region covers the nation
    ],
    ids=case_id,
)
def test_covers(world: World, parent: int, child: int, covered: bool) -> None:
    assert world.trust_call("covers", parent, child) is covered


@pytest.mark.parametrize(
    ("caller", "account", "jurisdiction", "error", "args"),
    [
        # an account with no regulator record
        ("outsider", "@newcomer", NINGBO, "TrustRegistryNotRegulator", ("@outsider",)),
        # a lab administrator is not a regulator either
        ("hz.admin", "@newcomer", NINGBO, "TrustRegistryNotRegulator", ("@hz.admin",)),
        # 浙江 cannot create a regulator for 南京
        ("zhejiang", "@newcomer", NANJING, "TrustRegistryOutsideJurisdiction", ("@zhejiang", NANJING)),
        # nor a second one for its own province: only strictly below
        ("zhejiang", "@newcomer", ZHEJIANG, "TrustRegistryOutsideJurisdiction", ("@zhejiang", ZHEJIANG)),
        # 杭州 cannot reach 宁波
        ("hangzhou", "@newcomer", NINGBO, "TrustRegistryOutsideJurisdiction", ("@hangzhou", NINGBO)),
        # nor its own province
        ("hangzhou", "@newcomer", ZHEJIANG, "TrustRegistryOutsideJurisdiction", ("@hangzhou", ZHEJIANG)),
        # 0 is the nation, not a region
        ("national", "@newcomer", 0, "TrustRegistryInvalidJurisdiction", (0,)),
        # five digits
        ("national", "@newcomer", 99_999, "TrustRegistryInvalidJurisdiction", (99_999,)),
        # seven digits
        ("national", "@newcomer", 1_000_000, "TrustRegistryInvalidJurisdiction", (1_000_000,)),
        # already the regulator of 江苏
        ("national", "@jiangsu", 340000, "TrustRegistryRegulatorExists", ("@jiangsu",)),
        # the national authority itself
        ("national", "@national", 340000, "TrustRegistryRegulatorExists", ("@national",)),
        # already registered by another parent for another city
        ("zhejiang", "@hangzhou", NINGBO, "TrustRegistryRegulatorExists", ("@hangzhou",)),
        # the zero address
        ("national", "@zero", 340000, "TrustRegistryZeroAddress", ()),
    ],
    ids=case_id,
)
def test_register_regulator_refused(
    world: World, caller: str, account: str, jurisdiction: int, error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        world.contracts.register_regulator(world.actor(caller), world.resolve(account), jurisdiction, "某局")


@pytest.mark.parametrize(
    ("caller", "target"),
    [
        ("zhejiang", "hangzhou"),  # the parent
        ("national", "hangzhou"),  # a grandparent: jurisdiction decides, not who registered it
        ("national", "zhejiang"),  # the national authority over a province
    ],
    ids=case_id,
)
def test_set_regulator_active_by_a_strict_ancestor(world: World, caller: str, target: str) -> None:
    account = world.actor(target).address
    world.send(world.actor(caller), world.trust, "setRegulatorActive", account, False)
    assert world.trust_call("regulator", account)[1] is False
    world.send(world.actor(caller), world.trust, "setRegulatorActive", account, True)
    assert world.trust_call("regulator", account)[1] is True


@pytest.mark.parametrize(
    ("caller", "target", "error", "args"),
    [
        # a regulator cannot switch itself (equal jurisdiction)
        ("hangzhou", "hangzhou", "TrustRegistryOutsideJurisdiction", ("@hangzhou", HANGZHOU)),
        # nor its parent
        ("hangzhou", "zhejiang", "TrustRegistryOutsideJurisdiction", ("@hangzhou", ZHEJIANG)),
        # nor a regulator of another province
        ("jiangsu", "hangzhou", "TrustRegistryOutsideJurisdiction", ("@jiangsu", HANGZHOU)),
        # nobody is above the national authority
        ("zhejiang", "national", "TrustRegistryOutsideJurisdiction", ("@zhejiang", NATIONAL)),
        # not even itself
        ("national", "national", "TrustRegistryOutsideJurisdiction", ("@national", NATIONAL)),
        # a caller that is no regulator
        ("outsider", "hangzhou", "TrustRegistryNotRegulator", ("@outsider",)),
        # a lab administrator
        ("hz.admin", "hangzhou", "TrustRegistryNotRegulator", ("@hz.admin",)),
        # a target that is no regulator
        ("national", "outsider", "TrustRegistryNotRegulator", ("@outsider",)),
    ],
    ids=case_id,
)
def test_set_regulator_active_refused(
    world: World, caller: str, target: str, error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        world.send(world.actor(caller), world.trust, "setRegulatorActive", world.actor(target).address, False)


# Everything a regulator does, for the deactivation test.
REGULATOR_ACTIONS = {
    "register-regulator": lambda w, s: w.contracts.register_regulator(s, w.actor("xihu").address, XIHU, "西湖区局"),
    "register-lab": lambda w, s: w.contracts.register_lab(
        s, NEW_LAB, LabKind.AUTHORIZED_BODY, XIHU, w.actor("new.admin").address, "新机构"
    ),
    "authorize-lab": lambda w, s: w.contracts.authorize_lab(
        s, w.hz.id, "(浙)法计(2026)01001号", w.hz.auth_from, FUTURE, {"JJG443": V}
    ),
    "suspend-lab": lambda w, s: w.contracts.suspend_lab(s, w.hz.id),
    "revoke-lab": lambda w, s: w.contracts.revoke_lab(s, w.hz.id),
    "set-lab-admin": lambda w, s: w.send(s, w.trust, "setLabAdmin", w.hz.id, w.actor("new.admin").address),
}


@pytest.mark.parametrize("action", REGULATOR_ACTIONS)
def test_deactivated_regulator_can_no_longer_act_until_reactivated(world: World, action: str) -> None:
    world.send(world.zhejiang, world.trust, "setRegulatorActive", world.hangzhou.address, False)
    with reverts("TrustRegistryNotRegulator", world.hangzhou.address):
        REGULATOR_ACTIONS[action](world, world.hangzhou)
    world.send(world.zhejiang, world.trust, "setRegulatorActive", world.hangzhou.address, True)
    REGULATOR_ACTIONS[action](world, world.hangzhou)


# ---------------------------------------------------------------- labs


def test_registered_labs(world: World) -> None:
    assert world.trust_call("labCount") == 3
    nmi = world.trust_call("lab", world.nmi_id)
    assert nmi == (LabStatus.ACTIVE, LabKind.NMI, BEIJING, 0, 0, world.nmi_admin.address)
    hz = world.trust_call("lab", world.hz.id)
    assert hz == (
        LabStatus.ACTIVE,
        LabKind.LEGAL_METROLOGY_INSTITUTE,
        HANGZHOU,
        world.hz.auth_from,
        world.hz.auth_until,
        world.hz.admin.address,
    )
    numbers = [world.trust_call("labNumberOf", lab) for lab in (world.nmi_id, world.hz.id, world.js.id)]
    assert numbers == [1, 2, 3]
    assert [bytes(world.trust_call("labIdOf", n)) for n in numbers] == [world.nmi_id, world.hz.id, world.js.id]


@pytest.mark.parametrize(
    ("caller", "jurisdiction", "kind"),
    [
        ("hangzhou", HANGZHOU, LabKind.AUTHORIZED_BODY),  # a city registers in its own code
        ("hangzhou", XIHU, LabKind.ACCREDITED_LAB),  # ... and in its districts
        ("zhejiang", XIHU, LabKind.LEGAL_METROLOGY_INSTITUTE),  # a province anywhere below it
        ("national", XIHU, LabKind.NMI),  # the national authority registers NMIs, anywhere
    ],
    ids=case_id,
)
def test_register_lab(world: World, caller: str, jurisdiction: int, kind: LabKind) -> None:
    admin = world.actor("new.admin")
    world.contracts.register_lab(world.actor(caller), NEW_LAB, kind, jurisdiction, admin.address, "新机构")
    assert world.trust_call("lab", NEW_LAB) == (LabStatus.ACTIVE, kind, jurisdiction, 0, 0, admin.address)
    assert world.trust_call("authorizationCount", NEW_LAB) == 0


@pytest.mark.parametrize(
    ("caller", "lab", "kind", "jurisdiction", "admin", "error", "args"),
    [
        # not a regulator
        ("outsider", NEW_LAB, 3, HANGZHOU, "@new.admin", "TrustRegistryNotRegulator", ("@outsider",)),
        # the zero lab id
        ("hangzhou", ZERO32, 3, HANGZHOU, "@new.admin", "TrustRegistryInvalidLabId", ()),
        # no administrator
        ("hangzhou", NEW_LAB, 3, HANGZHOU, "@zero", "TrustRegistryZeroAddress", ()),
        # kind 0
        ("hangzhou", NEW_LAB, 0, HANGZHOU, "@new.admin", "TrustRegistryInvalidKind", (0,)),
        # kind past ACCREDITED_LAB
        ("hangzhou", NEW_LAB, 5, HANGZHOU, "@new.admin", "TrustRegistryInvalidKind", (5,)),
        # a lab belongs to a region, even for the national authority
        ("national", NEW_LAB, 3, NATIONAL, "@new.admin", "TrustRegistryInvalidJurisdiction", (NATIONAL,)),
        # the Hangzhou bureau registering a Ningbo lab
        ("hangzhou", NEW_LAB, 3, NINGBO, "@new.admin", "TrustRegistryOutsideJurisdiction", ("@hangzhou", NINGBO)),
        # the Jiangsu bureau registering a Zhejiang lab
        ("jiangsu", NEW_LAB, 3, HANGZHOU, "@new.admin", "TrustRegistryOutsideJurisdiction", ("@jiangsu", HANGZHOU)),
        # only the national authority registers an NMI
        ("zhejiang", NEW_LAB, 1, HANGZHOU, "@new.admin", "TrustRegistryOutsideJurisdiction", ("@zhejiang", HANGZHOU)),
        # not even inside the city's own code
        ("hangzhou", NEW_LAB, 1, HANGZHOU, "@new.admin", "TrustRegistryOutsideJurisdiction", ("@hangzhou", HANGZHOU)),
        # the same lab id twice
        ("hangzhou", "$hz", 3, HANGZHOU, "@new.admin", "TrustRegistryLabExists", ("$hz",)),
        # ... also from another regulator elsewhere
        ("jiangsu", "$hz", 3, NANJING, "@new.admin", "TrustRegistryLabExists", ("$hz",)),
    ],
    ids=case_id,
)
def test_register_lab_refused(
    world: World, caller: str, lab: Any, kind: int, jurisdiction: int, admin: str, error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        world.send(
            world.actor(caller),
            world.trust,
            "registerLab",
            world.resolve(lab),
            kind,
            jurisdiction,
            world.resolve(admin),
            "某机构",
        )


@pytest.mark.parametrize(
    ("view", "args", "expected"),
    [
        ("labIdOf", (0,), "TrustRegistryUnknownLabNumber"),  # numbers start at 1
        ("labIdOf", (4,), "TrustRegistryUnknownLabNumber"),  # past the last lab
        ("labAdmin", (4,), "TrustRegistryUnknownLabNumber"),  # no admin for no lab
        ("labNumberOf", (NEW_LAB,), "TrustRegistryUnknownLab"),  # an unknown id
        ("lab", (NEW_LAB,), "TrustRegistryUnknownLab"),
        ("authorizationCount", (NEW_LAB,), "TrustRegistryUnknownLab"),
        ("statusHistory", (NEW_LAB,), "TrustRegistryUnknownLab"),
        ("labAdmin", (2,), "@hz.admin"),  # the Hangzhou institute is lab 2
        ("isRegulatorOver", ("@hangzhou", 2), True),  # its city
        ("isRegulatorOver", ("@zhejiang", 2), True),  # its province
        ("isRegulatorOver", ("@national", 2), True),  # the nation
        ("isRegulatorOver", ("@jiangsu", 2), False),  # another province
        ("isRegulatorOver", ("@hz.admin", 2), False),  # not a regulator
        ("isRegulatorOver", ("@national", 4), False),  # no such lab
    ],
    ids=case_id,
)
def test_views_the_certificate_registry_relies_on(
    world: World, view: str, args: tuple[Any, ...], expected: Any
) -> None:
    if isinstance(expected, str) and expected.startswith("TrustRegistry"):
        with reverts(expected):
            world.trust_call(view, *world.resolve(args))
    else:
        assert world.trust_call(view, *world.resolve(args)) == world.resolve(expected)


def test_authorization_is_recorded_with_its_scope(world: World) -> None:
    record = world.trust_call("authorization", world.hz.id, 0)
    assert record == (
        HZ_AUTH_NUMBER,
        world.hz.auth_from,
        world.hz.auth_until,
        world.hz.authorized_at,
        world.hangzhou.address,
        [category_code("JJG443"), category_code("JJG52")],
    )
    assert world.trust_call("authorizationCount", world.hz.id) == 1
    scopes = {c: world.trust_call("scopeOf", world.hz.id, 0, category_code(c)) for c in ("JJG443", "JJG52", "JJG1036")}
    assert scopes == {"JJG443": V, "JJG52": V | C, "JJG1036": 0}


@pytest.mark.parametrize("caller", ["hangzhou", "zhejiang", "national"])
def test_authorize_lab_by_any_regulator_over_it(world: World, caller: str) -> None:
    world.contracts.authorize_lab(
        world.actor(caller), world.hz.id, "(浙)法计(2026)01007号", world.hz.auth_from, FUTURE, {"JJG1036": C}
    )
    assert world.trust_call("authorizationCount", world.hz.id) == 2
    assert world.trust_call("lab", world.hz.id)[3:5] == (world.hz.auth_from, FUTURE)


JJG443, JJG52 = category_code("JJG443"), category_code("JJG52")
T0 = 1_900_000_000


@pytest.mark.parametrize(
    ("caller", "lab", "window", "categories", "activities", "error", "args"),
    [
        # not a regulator
        ("outsider", "$hz", (T0, FUTURE), [JJG443], [1], "TrustRegistryNotRegulator", ("@outsider",)),
        # the lab's own administrator
        ("hz.admin", "$hz", (T0, FUTURE), [JJG443], [1], "TrustRegistryNotRegulator", ("@hz.admin",)),
        # the Jiangsu bureau acting on a Zhejiang lab
        ("jiangsu", "$hz", (T0, FUTURE), [JJG443], [1], "TrustRegistryOutsideJurisdiction", ("@jiangsu", HANGZHOU)),
        # the Hangzhou bureau acting on a Jiangsu lab
        ("hangzhou", "$js", (T0, FUTURE), [JJG443], [1], "TrustRegistryOutsideJurisdiction", ("@hangzhou", JIANGSU)),
        # an unknown lab
        ("hangzhou", NEW_LAB, (T0, FUTURE), [JJG443], [1], "TrustRegistryUnknownLab", (NEW_LAB,)),
        # an empty window
        ("hangzhou", "$hz", (T0, T0), [JJG443], [1], "TrustRegistryInvalidWindow", (T0, T0)),
        # a reversed window
        ("hangzhou", "$hz", (T0 + 1, T0), [JJG443], [1], "TrustRegistryInvalidWindow", (T0 + 1, T0)),
        # a zero category (second entry)
        ("hangzhou", "$hz", (T0, FUTURE), [JJG443, ZERO32], [1, 1], "TrustRegistryInvalidScope", (1,)),
        # activity 0
        ("hangzhou", "$hz", (T0, FUTURE), [JJG443], [0], "TrustRegistryInvalidScope", (0,)),
        # activity bits beyond VERIFY|CALIBRATE
        ("hangzhou", "$hz", (T0, FUTURE), [JJG443, JJG52], [3, 4], "TrustRegistryInvalidScope", (1,)),
        # more categories than activities (the error names the length)
        ("hangzhou", "$hz", (T0, FUTURE), [JJG443, JJG52], [1], "TrustRegistryInvalidScope", (2,)),
        # an empty scope
        ("hangzhou", "$hz", (T0, FUTURE), [], [], "TrustRegistryInvalidScope", (0,)),
    ],
    ids=case_id,
)
def test_authorize_lab_refused(
    world: World,
    caller: str,
    lab: Any,
    window: tuple[int, int],
    categories: list[bytes],
    activities: list[int],
    error: str,
    args: tuple[Any, ...],
) -> None:
    with reverts(error, *world.resolve(args)):
        world.send(
            world.actor(caller),
            world.trust,
            "authorizeLab",
            world.resolve(lab),
            "(浙)法计(2026)01008号",
            *window,
            categories,
            activities,
        )


@pytest.mark.parametrize(
    ("kind", "activities", "error"),
    [
        (LabKind.ACCREDITED_LAB, [Activity.CALIBRATE], None),  # an accredited lab calibrates
        (LabKind.ACCREDITED_LAB, [Activity.VERIFY], "TrustRegistryKindMayNotVerify"),  # ... and never verifies
        (LabKind.ACCREDITED_LAB, [Activity.CALIBRATE, Activity.VERIFY | Activity.CALIBRATE],
         "TrustRegistryKindMayNotVerify"),  # not even for one category among others
        (LabKind.AUTHORIZED_BODY, [Activity.VERIFY], None),  # an authorized body verifies
        (LabKind.LEGAL_METROLOGY_INSTITUTE, [Activity.VERIFY | Activity.CALIBRATE], None),
    ],
    ids=case_id,
)  # fmt: skip
def test_only_legal_metrology_may_be_granted_verification(
    world: World, kind: LabKind, activities: list[int], error: str | None
) -> None:
    """检定 is legal metrology: the chain refuses VERIFY in an accredited lab's scope, as the verifier's
    LAB_KIND_FOR_VERIFICATION fails a verification by one."""
    world.contracts.register_lab(world.hangzhou, NEW_LAB, kind, XIHU, world.actor("new.admin").address, "新机构")
    categories = [JJG443, JJG52][: len(activities)]
    args = (NEW_LAB, "(浙)法计(2026)01009号", T0, FUTURE, categories, [int(a) for a in activities])
    if error is None:
        world.send(world.hangzhou, world.trust, "authorizeLab", *args)
        assert world.trust_call("isAuthorized", NEW_LAB, JJG443, int(activities[0]), T0)
    else:
        with reverts(error, NEW_LAB, int(kind)):
            world.send(world.hangzhou, world.trust, "authorizeLab", *args)


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


@pytest.mark.parametrize("caller", ["zhejiang", "national"])
def test_status_change_by_a_higher_regulator(world: World, caller: str) -> None:
    world.contracts.suspend_lab(world.actor(caller), world.hz.id, 2)
    world.contracts.reinstate_lab(world.hangzhou, world.hz.id)
    world.contracts.revoke_lab(world.actor(caller), world.hz.id, 3)
    assert world.trust_call("lab", world.hz.id)[0] == LabStatus.REVOKED


@pytest.mark.parametrize("caller", ["hz.admin", "hangzhou", "zhejiang", "national"])
def test_set_lab_admin_by_admin_or_regulator(world: World, caller: str) -> None:
    successor = world.actor("hz.admin2")
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
        ("jiangsu", "$hz", "@jiangsu", "TrustRegistryOutsideJurisdiction", ("@jiangsu", HANGZHOU)),
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
    "set-admin": lambda w, s: w.send(s, w.trust, "setLabAdmin", w.nmi_id, s.address),
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
