"""The lab directory from the index: the labs a regulator has under it, filtered, and one lab's whole history with
every reason named — the chain's public record, read without a call to the node."""

from __future__ import annotations

import hashlib

import pytest

from registry.onboarding import authorize_lab
from tests.verifier.conftest import Mirror, TraceWorld, chain_of_three
from tracecert.chain.types import NATIONAL, Activity, LabKind, LabStatus, SanctionKind, SanctionReason
from tracecert.human import local_time
from verifier.index import Index
from verifier.index.directory import directory, lab_history

pytestmark = pytest.mark.chain

DAY = 86_400


def _names(entries: list[object]) -> list[str]:
    return [e.name for e in entries]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["中国计量科学研究院", "浙江省计量科学研究院", "杭州市计量检定测试院"]),
        ({"jurisdiction": NATIONAL}, ["中国计量科学研究院", "浙江省计量科学研究院", "杭州市计量检定测试院"]),
        ({"jurisdiction": 330000}, ["浙江省计量科学研究院", "杭州市计量检定测试院"]),  # an NMI answers to the nation
        ({"jurisdiction": 330100}, ["杭州市计量检定测试院"]),
        ({"jurisdiction": 320000}, []),
        ({"kind": LabKind.NMI}, ["中国计量科学研究院"]),
        ({"category": "JJG52"}, ["浙江省计量科学研究院", "杭州市计量检定测试院"]),
        ({"category": "JJG443"}, []),
        ({"status": LabStatus.SUSPENDED}, []),
        ({"expiring_within_days": 30}, []),
    ],
)
def test_the_directory_filters_as_a_regulator_asks(
    trace_world: TraceWorld, index: Index, filters: dict[str, object], expected: list[str]
) -> None:
    index.sync()
    assert _names(directory(index, at=trace_world.chain.now(), **filters)) == expected  # type: ignore[arg-type]


def test_a_lab_s_whole_history_with_named_reasons(trace_world: TraceWorld, mirror: Mirror, index: Index) -> None:
    w, c = trace_world, trace_world.chain.contracts
    chain_of_three(w)
    now = w.chain.now()
    # A renewal that runs out in 20 days, a suspension for work outside the scope, a fine on the credit record.
    authorize_lab(c, w.city_regulator, w.city.lab_id, "(浙)法计(2026)09999号", now - DAY, now + 20 * DAY,
                  {"JJG52": Activity.VERIFY})  # fmt: skip
    c.suspend_lab(w.city_regulator, w.city.lab_id, int(SanctionReason.OUTSIDE_SCOPE))
    decision = hashlib.sha256(b"decision").digest()
    c.record_sanction(w.city_regulator, w.city.lab_id, SanctionKind.FINE, SanctionReason.OUTSIDE_SCOPE, "杭-1",
                      decision, now)  # fmt: skip
    index.sync()
    at = w.chain.now()

    assert _names(directory(index, at=at, status=LabStatus.SUSPENDED)) == ["杭州市计量检定测试院"]
    [expiring] = directory(index, at=at, expiring_within_days=30)
    assert (expiring.authorization_number, expiring.scope, expiring.grade) == (
        "(浙)法计(2026)09999号", {"JJG52": Activity.VERIFY}, "C"
    )  # fmt: skip
    assert directory(index, at=at, category="PRESSURE", jurisdiction=330100) == []  # no longer in its scope

    history = lab_history(index, w.city.lab_id, at=at)
    assert history is not None and lab_history(index, b"\x01" * 32, at=at) is None
    view = history.to_dict(local_time, at)
    assert view["status"] == {"code": "SUSPENDED", "zh": "暂停", "en": "suspended"}
    assert view["registered"]["by_name"] == "杭州市市场监督管理局"
    assert [a["number"] for a in view["authorizations"]] == ["(浙)法计(2020)01023号", "(浙)法计(2026)09999号"]
    assert view["authorizations"][0]["scope"] == {"PRESSURE": ["VERIFY", "CALIBRATE"], "JJG52": ["VERIFY"]}
    [registered, suspended] = view["statuses"]
    assert registered["status"]["code"] == "ACTIVE" and registered["reason"] is None
    assert suspended["reason"] == {
        "code": "OUTSIDE_SCOPE", "zh": "超出授权范围开展检定校准", "en": "work outside the authorized scope"
    }  # fmt: skip
    assert suspended["since"].endswith("(UTC+8)")
    [key] = view["keys"]
    assert key["valid_until"] is None and key["key_id"] == "0x" + w.city.key.key_id.hex()
    assert sum(view["certificates_per_month"].values()) == view["certificates"] == 1
    assert view["credit"]["grade"]["code"] == "C"
    assert [e["kind"]["code"] for e in view["credit"]["entries"]] == ["FINE"]
