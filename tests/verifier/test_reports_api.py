"""``POST /v1/reports`` and ``GET /v1/reports/{id}`` against the real verifier over a world of its own: a ZIP, a
CSV, several files give the right verdict per row; the report files are the command line's bytes; bad inputs are
refused by code; jobs are kept bounded."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from tests.verifier.conftest import TraceWorld
from tests.verifier.test_cli_bulk import (
    LOOKUP_ROWS,
    MEMBER_LIMIT,
    MIXED_ROWS,
    UNKNOWN,
    Certs,
    as_json,
    check_rows,
    lookup_csv,
    make_certs,
    make_zip,
    mixed_zip,
    read_csv_report,
    verdicts,
)
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from tracecert.chain.errors import ChainUnavailable
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.sources import MemorySource
from tracecert_app.cli import app as cli_app
from verifier import reports
from verifier.api import create_app
from verifier.config import VerifierSettings
from verifier.inputs import Lookup
from verifier.report_file import render_report

SETTINGS = VerifierSettings(max_upload_bytes=MEMBER_LIMIT, rate_limit_per_minute=0)


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def certs(world: TraceWorld) -> Certs:
    return make_certs(world)


@pytest.fixture(scope="module")
def api(world: TraceWorld, certs: Certs) -> Iterator[TestClient]:
    """The app over the world's verifier (every certificate in its source); 64 KiB files, no rate limit."""
    with TestClient(create_app(SETTINGS, verifier=world.verifier)) as client:
        yield client


def post(api: TestClient, *files: tuple[str, bytes] | tuple[str, bytes, str], **params: str) -> Response:
    """POST /v1/reports with ``files`` as ``file`` parts."""
    return api.post("/v1/reports", files=[("file", f) for f in files], params=params)


def finished(api: TestClient, response: Response, timeout: float = 120) -> dict[str, Any]:
    """The job a 202 answered, polled until it is no longer running."""
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    assert location == f"/v1/reports/{response.json()['id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(location).json()
        assert 0 <= job["done"] <= job["total"]
        if job["status"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError(f"report {location} did not finish")


def test_a_zip_gives_a_row_per_member(api: TestClient, certs: Certs) -> None:
    answer = post(api, ("certs.zip", mixed_zip(certs), "application/zip"))
    assert answer.json()["status"] == "running" and answer.json()["total"] == len(MIXED_ROWS)
    job = finished(api, answer)
    assert job["status"] == "done" and job["done"] == job["total"] == len(MIXED_ROWS)
    check_rows(job["rows"], MIXED_ROWS)
    assert job["summary"] == {"VALID": 2, "INVALID": 1, "ERROR": 2}
    # The report files: the rows as the command line writes them.
    csv_file = api.get(f"/v1/reports/{job['id']}", params={"format": "csv"})
    assert csv_file.status_code == 200 and csv_file.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_file.content == render_report(job["rows"], ".csv")
    assert "attachment" in csv_file.headers["content-disposition"]
    assert read_csv_report(csv_file.content) == job["rows"]
    json_file = api.get(f"/v1/reports/{job['id']}", params={"format": "JSON"})
    assert json_file.headers["content-type"] == "application/json" and json_file.json() == job["rows"]
    html_file = api.get(job["files"]["html"])
    assert html_file.headers["content-type"] == "text/html; charset=utf-8"
    assert "证书核验报告" in html_file.text and html_file.text.count("<tr class=") == len(MIXED_ROWS)


def test_a_csv_of_digests_and_numbers(api: TestClient, world: TraceWorld, certs: Certs) -> None:
    job = finished(api, post(api, ("certs.csv", lookup_csv(world, certs, delimiter=";"), "text/csv")))
    assert job["status"] == "done"
    check_rows(job["rows"], LOOKUP_ROWS)
    # By its media type, a CSV under another name is read as one too.
    typed = finished(api, post(api, ("list.txt", f"digest\n{certs.leaf['digest']}\n".encode(), "text/csv")))
    assert verdicts(typed["rows"]) == {"list.txt:2": "VALID"}


def test_several_files(world: TraceWorld, certs: Certs) -> None:
    """Files side by side; the bundles among them serve as sources: on a verifier that has none, the leaf's
    standards are found among them (as a folder's are on the command line), and only there."""
    bare = Verifier(LiveChainView(world.chain.contracts), MemorySource())
    with TestClient(create_app(SETTINGS, verifier=bare)) as api:
        alone = finished(api, post(api, ("leaf.json", as_json(certs.leaf))))
        assert verdicts(alone["rows"]) == {"leaf.json": "INVALID"}
        job = finished(
            api,
            post(
                api,
                ("leaf.json", as_json(certs.leaf)),
                ("revoked.json", as_json(certs.revoked)),
                ("notes.txt", b"hello"),
                ("standards.zip", make_zip({"nmi.json": as_json(certs.nmi), "zj.json": as_json(certs.provincial)})),
            ),
        )
    assert verdicts(job["rows"]) == {
        "leaf.json": "VALID", "revoked.json": "INVALID", "notes.txt": "ERROR", "standards.zip!nmi.json": "VALID",
        "standards.zip!zj.json": "VALID",
    }  # fmt: skip
    assert "UNSUPPORTED_MEDIA_TYPE" in job["rows"][2]["reasons"]


def test_as_of_and_expected_kind_apply_to_every_row(api: TestClient, world: TraceWorld, certs: Certs) -> None:
    """Before the revocation the revoked certificate was valid; a kind asked for that is not theirs fails all."""
    zipped = make_zip({"revoked.json": as_json(certs.revoked), "leaf.json": as_json(certs.leaf)})
    before = finished(api, post(api, ("c.zip", zipped), as_of=str(certs.revoked_at - 600)))
    assert verdicts(before["rows"]) == {"c.zip!revoked.json": "VALID", "c.zip!leaf.json": "VALID"}
    kind = finished(api, post(api, ("c.zip", zipped), expected_kind="verification"))
    assert set(verdicts(kind["rows"]).values()) == {"INVALID"}
    assert all("KIND_AS_EXPECTED" in r["reasons"] for r in kind["rows"])


def test_the_apis_report_is_the_command_lines(
    api: TestClient, world: TraceWorld, certs: Certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same ZIP, and the same CSV, verified by ``tracecert verify --report`` and through the API: the same
    CSV bytes."""
    for name in list(os.environ):
        if name.startswith("TRACECERT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    world.chain.contracts.deployment.save(tmp_path / "deployment.json")
    (tmp_path / "library").mkdir()
    for name in ("nmi", "provincial", "leaf", "revoked"):
        (tmp_path / "library" / f"{name}.json").write_bytes(as_json(getattr(certs, name)))
    inputs = {"certs.zip": mixed_zip(certs), "certs.csv": lookup_csv(world, certs)}
    for name, data in inputs.items():
        Path(name).write_bytes(data)
        result = CliRunner().invoke(
            cli_app,
            ["verify", name, "--report", "cli.csv", "--rpc-url", world.chain.client.url,
             "--deployment", "deployment.json", "--bundles", "library"],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        job = finished(api, post(api, (name, data)))
        from_api = api.get(f"/v1/reports/{job['id']}", params={"format": "csv"}).content
        assert from_api == Path("cli.csv").read_bytes()
        assert len(read_csv_report(from_api)) == len(MIXED_ROWS if name.endswith(".zip") else LOOKUP_ROWS)


def _bad(case: str) -> list[tuple[str, bytes]]:
    limit = MEMBER_LIMIT
    many = "digest\n" + f"{UNKNOWN}\n" * (reports.MAX_ITEMS + 1)
    return {
        "empty-zip": [("c.zip", make_zip({}))],
        "not-a-zip": [("c.zip", b"this is not a ZIP archive")],
        "zip-bomb": [("c.zip", make_zip({"bomb.json": b"{" + b" " * (limit * 40) + b"}"}))],
        "members-together": [("c.zip", make_zip({f"m{i}.json": b" " * (limit - 10) for i in range(11)}))],
        "encrypted-member": [("c.zip", make_zip({"a.json": b"{}"}, encrypted=True))],
        "no-known-column": [("c.csv", b"name,serial\nx,y\n")],
        "heading-only": [("c.csv", b"digest\n")],
        "too-many-rows": [("c.csv", many.encode())],
        "too-many-files": [(f"f{i}.json", b"{}") for i in range(reports.MAX_ITEMS + 1)],
        "file-over-limit": [("big.pdf", b"%PDF-1.7\n" + b" " * limit)],
        "upload-over-limit": [(f"f{i}.pdf", b"%PDF-1.7\n" + b" " * (limit - 100)) for i in range(11)],
    }[case]


@pytest.mark.parametrize(
    ("case", "status", "code", "detail"),
    [
        ("empty-zip", 422, "REPORT_EMPTY", None),
        ("not-a-zip", 422, "REPORT_INPUT_INVALID", None),
        ("zip-bomb", 413, "REPORT_TOO_LARGE", {"limit": MEMBER_LIMIT, "member": "bomb.json"}),
        ("members-together", 413, "REPORT_TOO_LARGE", {"limit": 10 * MEMBER_LIMIT, "member": "m10.json"}),
        ("encrypted-member", 422, "REPORT_INPUT_INVALID", {"member": "a.json"}),
        ("no-known-column", 422, "REPORT_INPUT_INVALID", {"row": 1, "columns": ["name", "serial"]}),
        ("heading-only", 422, "REPORT_EMPTY", None),
        ("too-many-rows", 413, "REPORT_TOO_LARGE", {"limit": 1000, "row": 1002}),
        ("too-many-files", 413, "REPORT_TOO_LARGE", {"limit": 1000}),
        ("file-over-limit", 413, "REPORT_TOO_LARGE", {"limit": MEMBER_LIMIT}),
        ("upload-over-limit", 413, "REPORT_TOO_LARGE", {"limit": 10 * MEMBER_LIMIT}),
    ],
)
def test_bad_uploads_are_refused_by_code(
    api: TestClient, case: str, status: int, code: str, detail: dict[str, Any] | None
) -> None:
    response = post(api, *_bad(case))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error.get("details") == detail


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        ({"json": {"file": "x"}}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"files": [("bundle", ("a.json", b"{}"))]}, 422, "REPORT_INPUT_INVALID"),  # not a 'file' part
        ({"data": {"file": "not a file"}, "files": [("other", ("a", b""))]}, 422, "REPORT_INPUT_INVALID"),
        ({"data": {"x": "1"}, "files": []}, 415, "UNSUPPORTED_MEDIA_TYPE"),  # a plain form, no files
        ({"files": [("file", ("a.json", b"{}"))], "params": {"as_of": "someday"}}, 422, "INVALID_AS_OF"),
        ({"files": [("file", ("a.json", b"{}"))], "params": {"expected_kind": "x"}}, 422, "INVALID_KIND"),
        (
            {"content": b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
             "headers": {"content-type": "multipart/form-data; boundary=b"}},
            400, "MALFORMED_MULTIPART",
        ),
        (
            {"content": b"--b--\r\n", "headers": {"content-type": "multipart/form-data; boundary=b"}},
            422, "REPORT_EMPTY",
        ),
    ],
    ids=["json", "other-part", "field-not-file", "plain-form", "as-of", "kind", "broken-multipart", "no-parts"],
)  # fmt: skip
def test_bad_requests_are_refused_by_code(
    api: TestClient, request_args: dict[str, Any], status: int, code: str
) -> None:
    response = api.post("/v1/reports", **request_args)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_unknown_reports_and_formats(api: TestClient, certs: Certs) -> None:
    assert api.get("/v1/reports/nope").json()["error"]["code"] == "REPORT_NOT_FOUND"
    assert api.get("/v1/reports/nope", params={"format": "csv"}).status_code == 404
    job = finished(api, post(api, ("leaf.json", as_json(certs.leaf))))
    wrong = api.get(f"/v1/reports/{job['id']}", params={"format": "pdf"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "INVALID_FORMAT"


def test_a_job_whose_chain_stops_answering_fails(
    api: TestClient, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job fails with CHAIN_UNAVAILABLE (rows before it are not a report); its file is 409 REPORT_NOT_READY."""

    def down(self: Lookup, verifier: Any) -> Any:
        raise ChainUnavailable("connection refused")

    monkeypatch.setattr(Lookup, "run", down)
    job = finished(api, post(api, ("c.csv", f"digest\n{certs.leaf['digest']}\n".encode())))
    assert job["status"] == "failed" and job["error"]["code"] == "CHAIN_UNAVAILABLE" and "rows" not in job
    early = api.get(f"/v1/reports/{job['id']}", params={"format": "csv"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "REPORT_NOT_READY"


def test_only_the_last_jobs_are_kept(world: TraceWorld, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "MAX_JOBS", 2)
    with TestClient(create_app(SETTINGS, verifier=world.verifier)) as api:
        ids = [finished(api, post(api, ("leaf.json", as_json(certs.leaf))))["id"] for _ in range(3)]
        assert [api.get(f"/v1/reports/{i}").status_code for i in ids] == [404, 200, 200]


def test_the_job_runs_off_the_event_loop(world: TraceWorld, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a job's verification is blocked, the service answers (its progress included)."""
    release = threading.Event()
    real = Lookup.run

    def slow(self: Lookup, verifier: Any) -> Any:
        release.wait(30)
        return real(self, verifier)

    monkeypatch.setattr(Lookup, "run", slow)
    with TestClient(create_app(SETTINGS, verifier=world.verifier)) as api:
        answer = post(api, ("c.csv", f"digest\n{certs.leaf['digest']}\n{UNKNOWN}\n".encode()))
        job_id = answer.json()["id"]
        running = api.get(f"/v1/reports/{job_id}").json()
        assert running["status"] == "running" and running["total"] == 2 and "rows" not in running
        not_ready = api.get(f"/v1/reports/{job_id}", params={"format": "csv"})
        assert not_ready.status_code == 409 and not_ready.json()["error"]["code"] == "REPORT_NOT_READY"
        assert api.get("/v1/checks").status_code == 200
        release.set()
        job = finished(api, answer)
        assert verdicts(job["rows"]) == {"c.csv:2": "VALID", "c.csv:3": "UNKNOWN"}
        assert job["done"] == 2
