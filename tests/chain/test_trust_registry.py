"""TrustRegistry: regulators and their jurisdictions, labs and their authorizations and status, and the
historical questions a verifier asks ("was lab L authorized for category C and activity A at time T?")."""

from __future__ import annotations

from typing import Any

import pytest

from tracecert.certificate.canonical import lab_id
from tracecert.chain.deploy import deploy
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import NATIONAL, Activity, LabKind, LabStatus, category_code, covers

from .conftest import (
    BEIJING,
    HANGZHOU,
    HZ_AUTH_NUMBER,
    JIANGSU,
    NANJING,
    NINGBO,
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
    assert covers(parent, child) is covered  # the Python twin the directory filters with


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
    "set-lab-admin": lambda w, s: _set_admin_of_suspended_lab(w, s),
}


def _set_admin_of_suspended_lab(w: World, regulator: TransactionSender) -> None:
    """A regulator names a lab's admin only while it is suspended (here by Zhejiang, above the actor)."""
    if w.trust_call("lab", w.hz.id)[0] == LabStatus.ACTIVE:
        w.contracts.suspend_lab(w.zhejiang, w.hz.id)
    w.send(regulator, w.trust, "setLabAdmin", w.hz.id, w.actor("new.admin").address)


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
