"""Draws published through the registry (双随机、一公开): a regulator's draw is re-run against the chain before it is
kept, anyone reads it, its regulator publishes the inspections' results once; every refusal by its code."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.api import create_app
from tests.registry.conftest import LabWorld
from tests.registry.test_api import app_settings, bearer
from tracecert.draws import DrawSpec, run

pytestmark = pytest.mark.chain

POPULATION = tuple(f"0x{i:064x}" for i in range(1, 21))


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(world), core=world.core, run_worker=False)) as client:
        yield client


def _draw(world: LabWorld, purpose: str = "2026年第四季度双随机抽查") -> dict[str, Any]:
    spec = DrawSpec(purpose, 330000, POPULATION, 3, ("王检查", "李检查", "赵检查"), 2, {"how": "ACTIVE labs"})
    c = world.chain
    return run(spec, c.contracts, world.province, nudge=lambda: c.client.rpc("evm_mine", []), poll=0.01)


def test_publish_read_and_report_a_draw(api: TestClient, world: LabWorld) -> None:
    published = _draw(world)
    regulator = bearer(world.regulator_token)
    first = api.post("/v1/draws", json=published, headers=regulator)
    assert first.status_code == 201, first.json()
    assert api.post("/v1/draws", json=published, headers=regulator).status_code == 200  # the same draw again
    listed = api.get("/v1/draws").json()["items"]  # anyone
    assert [d["commitment"] for d in listed] == [published["commitment"]] and "published" not in listed[0]
    one = api.get(f"/v1/draws/{published['commitment']}").json()
    assert one["published"] == published and one["population_size"] == 20 and one["results"] is None
    assert one["published_at"].endswith("(UTC+8)")
    results = {item: {"outcome": "PASS"} for item in published["sample"]}
    results[published["sample"][0]] = {"outcome": "FAIL", "note": "标准器证书过期"}
    done = api.put(f"/v1/draws/{published['commitment']}/result", json={"results": results}, headers=regulator)
    assert done.status_code == 200, done.json()
    shown = done.json()["results"][published["sample"][0]]
    assert shown == {"outcome": {"code": "FAIL", "zh": "不合格", "en": "failed"}, "note": "标准器证书过期"}
    again = api.put(f"/v1/draws/{published['commitment']}/result", json={"results": results}, headers=regulator)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "RESULT_EXISTS")


def _tampered(published: dict[str, Any], how: str) -> dict[str, Any]:
    p = copy.deepcopy(published)
    if how == "sample":
        p["sample"] = list(reversed(p["sample"]))
    elif how == "spec":
        p["spec"]["size"] = 0
    elif how == "field":
        del p["seed"]
    return p


@pytest.mark.parametrize(
    ("how", "who", "status", "code", "link"),
    [
        ("sample", "regulator", 422, "DRAW_INVALID", "SAMPLE"),
        ("spec", "regulator", 422, "DRAW_MALFORMED", None),
        ("field", "regulator", 422, "REQUEST_INVALID", None),
        ("none", "lab", 403, "NOT_A_REGULATOR", None),
        ("none", "jiangsu", 403, "DRAW_NOT_YOURS", None),
        ("none", "anonymous", 401, "UNAUTHORIZED", None),
    ],
)
def test_publishing_refusals(
    api: TestClient, world: LabWorld, how: str, who: str, status: int, code: str, link: str | None
) -> None:
    published = _tampered(_draw(world), how)
    _, jiangsu = world.core.issue_token("REGULATOR", regulator_address=world.chain.actor("jiangsu").address)
    tokens = {"regulator": bearer(world.regulator_token), "lab": bearer(world.token), "jiangsu": bearer(jiangsu),
              "anonymous": {}}  # fmt: skip
    answer = api.post("/v1/draws", json=published, headers=tokens[who])
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.json()
    if link is not None:
        assert [d["field"] for d in answer.json()["error"]["details"]] == [link]
    assert api.get("/v1/draws").json()["items"] == []


@pytest.mark.parametrize(
    ("results", "status", "code"),
    [
        ("not drawn", 422, "RESULT_ITEM_NOT_DRAWN"),
        ("incomplete", 422, "RESULT_INCOMPLETE"),
        ("bad outcome", 422, "REQUEST_INVALID"),
        ("unknown draw", 404, "DRAW_NOT_FOUND"),
    ],
)
def test_result_refusals(api: TestClient, world: LabWorld, results: str, status: int, code: str) -> None:
    published = _draw(world)
    regulator = bearer(world.regulator_token)
    assert api.post("/v1/draws", json=published, headers=regulator).status_code == 201
    sample = published["sample"]
    body: dict[str, Any] = {"results": {item: {"outcome": "PASS"} for item in sample}}
    target = published["commitment"]
    if results == "not drawn":
        body["results"]["0x" + "ff" * 32] = {"outcome": "PASS"}
    elif results == "incomplete":
        del body["results"][sample[0]]
    elif results == "bad outcome":
        body["results"][sample[0]] = {"outcome": "MAYBE"}
    else:
        target = "0x" + "ab" * 32
    answer = api.put(f"/v1/draws/{target}/result", json=body, headers=regulator)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


def test_the_cli_publishes_a_draw(world: LabWorld, tmp_path: Any) -> None:
    """``tracecert draw publish`` against the registry served over real HTTP; a lab's token is refused by code."""
    import json

    from tests.registry.cli.conftest import error_code, invoke, served

    published = _draw(world, "命令行发布的抽查")
    (tmp_path / "draw.json").write_text(json.dumps(published, ensure_ascii=False), "utf-8")
    with served(world.core, run_worker=False) as url:
        refused = invoke("draw", "publish", str(tmp_path / "draw.json"), "--registry", url, "--token", world.token)
        assert refused.exit_code == 1 and error_code(refused) == "NOT_A_REGULATOR"
        done = invoke("draw", "publish", str(tmp_path / "draw.json"), "--registry", url,
                      "--token", world.regulator_token)  # fmt: skip
        assert done.exit_code == 0, done.output
        assert f"anyone reads {url}/v1/draws/{published['commitment']}" in done.stdout
