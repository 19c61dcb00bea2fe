"""The CreditRegistry: the credit record and blacklist of labs and enterprises, written by the regulators over
them, read by anyone, append-only (a lifting is a new entry), and the grade derived from it."""

from __future__ import annotations

import hashlib

import pytest

from tests.chain.conftest import DAY, World, reverts
from tracecert.chain.contracts import enterprise_subject
from tracecert.chain.types import SanctionKind, SanctionReason, SubjectKind
from tracecert.credit import Grade, in_force, standing

pytestmark = pytest.mark.chain

#: 杭州某化工有限公司 (region 330106, 西湖区) and 南京某燃气有限公司 (320100).
HZ_ENTERPRISE = "91330106MA2H4K7L3Q"
NJ_ENTERPRISE = "91320100MA1N2X3Y4A"
DECISION = hashlib.sha256("杭市监处罚〔2026〕118号 行政处罚决定书".encode()).digest()
W, R, F, S, B, L = (SanctionKind.WARNING, SanctionKind.RECTIFICATION, SanctionKind.FINE, SanctionKind.SUSPENSION,
                    SanctionKind.BLACKLIST, SanctionKind.LIFTING)  # fmt: skip


def _credit_call(world: World, function: str, *args: object) -> object:
    credit = world.contracts.credit
    assert credit is not None
    return world.contracts.call(credit, function, *args)


@pytest.mark.parametrize(
    ("constant", "value"),
    [(f"KIND_{k.name}", k) for k in SanctionKind] + [(f"SUBJECT_{k.name}", k) for k in SubjectKind],
)
def test_python_codes_equal_contract_constants(world: World, constant: str, value: int) -> None:
    assert _credit_call(world, constant) == value


def test_every_contract_constant_has_a_python_code(world: World) -> None:
    credit = world.contracts.credit
    assert credit is not None
    on_chain = {i["name"] for i in credit.abi if i["type"] == "function" and not i["inputs"] and i["name"] != "TRUST"}
    assert on_chain == {f"KIND_{k.name}" for k in SanctionKind} | {f"SUBJECT_{k.name}" for k in SubjectKind}


def test_a_regulator_records_a_lab_sanction_anyone_reads_it(world: World) -> None:
    now = world.chain.now()
    receipt = world.contracts.record_sanction(
        world.hangzhou, world.hz.id, F, SanctionReason.FALSE_CERTIFICATE, "杭市监处罚〔2026〕118号", DECISION, now,
        now + 365 * DAY,
    )  # fmt: skip
    [(name, args)] = world.contracts.events(receipt)
    assert name == "SanctionRecorded" and args["subject"] == world.hz.id and args["index"] == 0
    [entry] = world.contracts.sanctions(world.hz.id) or []
    assert (entry.subject_kind, entry.kind, entry.reason) == (SubjectKind.LAB, F, SanctionReason.FALSE_CERTIFICATE)
    assert (entry.case_number, entry.decision_digest, entry.lifts) == ("杭市监处罚〔2026〕118号", DECISION, None)
    assert (entry.effective_from, entry.effective_until) == (now, now + 365 * DAY)
    assert entry.recorded_by == world.hangzhou.address and entry.region == 0
    assert standing([entry], now + DAY).grade is Grade.C
    assert standing([entry], now + 366 * DAY).grade is Grade.A  # the fine's window is over


def test_an_enterprise_is_sanctioned_in_the_region_its_usci_carries(world: World) -> None:
    now = world.chain.now()
    world.contracts.record_sanction(
        world.zhejiang, HZ_ENTERPRISE, B, SanctionReason.OVERDUE_VERIFICATION, "浙市监信〔2026〕7号", DECISION, now
    )
    [entry] = world.contracts.sanctions(enterprise_subject(HZ_ENTERPRISE)) or []
    assert (entry.subject_kind, entry.region, entry.effective_until) == (SubjectKind.ENTERPRISE, 330106, None)
    assert standing([entry], now + 10 * 365 * DAY).grade is Grade.D  # open-ended until lifted


@pytest.mark.parametrize(
    ("who", "subject", "error"),
    [
        ("jiangsu", "hz", "CreditNotRegulatorOver"),  # another province's lab
        ("hangzhou", "nmi", "CreditNotRegulatorOver"),  # an NMI answers to the national regulator only
        ("hz.admin", "hz", "CreditNotRegulatorOver"),  # a lab cannot clear or write its own record
        ("stranger", "hz", "CreditNotRegulatorOver"),
        ("hangzhou", NJ_ENTERPRISE, "CreditNotRegulatorOver"),  # an enterprise of Nanjing
        ("zhejiang", "91ABCDEFMA2H4K7L3Q", "CreditInvalidUsci"),  # no region in characters 3..8
        ("zhejiang", "9133010", "CreditInvalidUsci"),
    ],
)
def test_only_a_regulator_over_the_subject_records(world: World, who: str, subject: str, error: str) -> None:
    target: bytes | str = {"hz": world.hz.id, "nmi": world.nmi_id}.get(subject, subject)
    with reverts(error):
        world.contracts.record_sanction(world.actor(who), target, W, SanctionReason.OTHER, "X-1", DECISION, 0)


@pytest.mark.parametrize(
    ("kind", "reason", "case", "window", "error"),
    [
        (0, 1, "C-1", (0, 0), "CreditInvalidKind"),
        (7, 1, "C-1", (0, 0), "CreditInvalidKind"),
        (6, 1, "C-1", (0, 0), "CreditInvalidKind"),  # a lifting only through lift()
        (1, 0, "C-1", (0, 0), "CreditInvalidReason"),
        (1, 11, "C-1", (0, 0), "CreditInvalidReason"),
        (1, 1, "", (0, 0), "CreditMissingCaseNumber"),
        (1, 1, "C-1", (100, 100), "CreditInvalidWindow"),
        (1, 1, "C-1", (100, 50), "CreditInvalidWindow"),
    ],
)
def test_malformed_entries_are_refused(
    world: World, kind: int, reason: int, case: str, window: tuple[int, int], error: str
) -> None:
    credit = world.contracts.credit
    assert credit is not None
    with reverts(error):
        world.contracts.transact(
            world.hangzhou, credit, "recordLabSanction", world.hz.id, kind, reason, case, DECISION, *window
        )


def test_a_lifting_is_a_new_entry_and_nothing_is_erased(world: World) -> None:
    c, now = world.contracts, world.chain.now()
    c.record_sanction(world.hangzhou, world.hz.id, S, SanctionReason.OUTSIDE_SCOPE, "杭市监〔2026〕3号", DECISION, now)
    c.record_sanction(world.hangzhou, world.hz.id, W, SanctionReason.UNQUALIFIED_STAFF, "杭市监〔2026〕4号", DECISION,
                      now)  # fmt: skip
    lifted_at = world.chain.advance(30 * DAY)
    c.lift_sanction(world.zhejiang, world.hz.id, 0, SanctionReason.RECTIFIED, "杭市监〔2026〕9号", DECISION, lifted_at)
    record = c.sanctions(world.hz.id) or []
    assert [(e.index, e.kind, e.lifts) for e in record] == [(0, S, None), (1, W, None), (2, L, 0)]
    assert [e.index for e in in_force(record, now + DAY)] == [0, 1]
    assert standing(record, now + DAY).grade is Grade.C  # before the lifting: the suspension decides
    assert [e.index for e in in_force(record, lifted_at)] == [1]
    assert standing(record, lifted_at).grade is Grade.B
    with reverts("CreditNotLiftable", world.hz.id, 0):  # lifted once is lifted
        c.lift_sanction(world.hangzhou, world.hz.id, 0, SanctionReason.RECTIFIED, "再次", DECISION, lifted_at)
    with reverts("CreditNotLiftable", world.hz.id, 2):  # a lifting is not lifted
        c.lift_sanction(world.hangzhou, world.hz.id, 2, SanctionReason.RECTIFIED, "再次", DECISION, lifted_at)
    with reverts("CreditUnknownEntry", world.hz.id, 3):
        c.lift_sanction(world.hangzhou, world.hz.id, 3, SanctionReason.RECTIFIED, "再次", DECISION, lifted_at)
    with reverts("CreditNotRegulatorOver"):  # another province cannot lift it either
        c.lift_sanction(world.jiangsu, world.hz.id, 1, SanctionReason.RECTIFIED, "苏", DECISION, lifted_at)


def test_a_deactivated_regulator_records_nothing(world: World) -> None:
    world.contracts.transact(
        world.zhejiang, world.trust, "setRegulatorActive", world.hangzhou.address, False
    )
    with reverts("CreditNotRegulatorOver"):
        world.contracts.record_sanction(world.hangzhou, world.hz.id, W, SanctionReason.OTHER, "X-2", DECISION, 0)


def test_the_grade_takes_the_worst_entry_in_force(world: World) -> None:
    c, now = world.contracts, world.chain.now()
    assert standing(c.sanctions(world.js.id) or [], now).grade is Grade.A
    for kind, grade in [(W, Grade.B), (R, Grade.B), (F, Grade.C), (B, Grade.D), (S, Grade.D)]:
        c.record_sanction(world.jiangsu, world.js.id, kind, SanctionReason.FORGED_DATA, f"苏-{kind.name}", DECISION,
                          now)  # fmt: skip
        assert standing(c.sanctions(world.js.id) or [], now).grade is grade, kind
