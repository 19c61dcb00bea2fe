"""``tracecert verify`` against a real chain: verdicts, exit codes 0/1/2, --json, folders, offline use."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from eth_account import Account
from typer.testing import CliRunner, Result

from tests.conftest import free_port
from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, standard_from, tamper, verification
from tests.verifier.world import PDF, build_world, with_document
from tracecert.certificate.canonical import from_hex
from tracecert.chain.client import ChainClient
from tracecert.chain.types import RevocationReason
from tracecert_app.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def chain3(world: TraceWorld) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return chain_of_three(world)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings leak in from the machine: an empty data directory, no registry, no RPC URL."""
    for name in list(os.environ):
        if name.startswith("TRACECERT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path / "data"))


def write(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@pytest.fixture
def deployment(world: TraceWorld, tmp_path: Path) -> Path:
    path = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(path)
    return path


@pytest.fixture
def bundles(chain3: Any, tmp_path: Path) -> Path:
    """The standards' certificates (NMI and provincial) in a folder."""
    folder = tmp_path / "standards"
    write(folder / "nmi.json", chain3[0])
    write(folder / "provincial.json", chain3[1])
    return folder


def verify(world: TraceWorld, *args: str) -> Result:
    return runner.invoke(app, ["verify", "--rpc-url", world.chain.client.url, *args])


def test_a_valid_bundle(world: TraceWorld, chain3: Any, deployment: Path, bundles: Path, tmp_path: Path) -> None:
    leaf = write(tmp_path / "leaf.json", chain3[2])
    result = verify(world, str(leaf), "--deployment", str(deployment), "--bundles", str(bundles))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("VALID  ") and "HZ-2026-C0033" in out
    # The trace goes up to the NMI, with each standard named.
    assert "精密压力表 ← ZJ-2026-Y0101" in out and "活塞式压力计 ← NIM-2026-P001  中国计量科学研究院 [NMI]" in out
    assert "1 file: 1 valid, 0 invalid" in out


def test_json_output(world: TraceWorld, chain3: Any, deployment: Path, bundles: Path, tmp_path: Path) -> None:
    leaf = write(tmp_path / "leaf.json", chain3[2])
    result = verify(world, str(leaf), "--json", "--deployment", str(deployment), "--bundles", str(bundles))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "VALID" and report["digest"] == chain3[2]["digest"]
    assert report["trace"]["children"][0]["children"][0]["lab_kind"] == "NMI"


@pytest.mark.parametrize(
    ("locale", "says", "never"),
    [
        ("zh_CN.UTF-8", ["INVALID 无效", "内容与摘要一致: 证书内容与其摘要不符（内容被改动）", "校准证书", "0 个有效"],
         "the record does not hash"),
        ("en_US.UTF-8", ["INVALID  ", "Content matches its digest: the record does not hash to its digest",
                         "calibration certificate", "0 valid, 1 invalid"], "证书内容与其摘要不符"),
        ("C.UTF-8", ["INVALID  ", "the record does not hash to its digest"], "证书内容与其摘要不符"),
    ],
)  # fmt: skip
def test_a_tampered_bundle_exits_1_in_the_users_language(
    world: TraceWorld,
    chain3: Any,
    deployment: Path,
    bundles: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    locale: str,
    says: list[str],
    never: str,
) -> None:
    """The command line speaks Chinese in a Chinese locale and English otherwise; the codes are the same."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", locale)
    forged = write(tmp_path / "forged.json", tamper(chain3[2], "results.0.value", "0.000"))
    result = verify(world, str(forged), "--deployment", str(deployment), "--bundles", str(bundles))
    assert result.exit_code == 1
    out = result.stdout
    assert out.startswith("INVALID") and "✗ DIGEST_MATCHES" in out
    for text in says:
        assert text in out, out
    assert never not in out


def test_warnings_count_as_valid(
    world: TraceWorld, chain3: Any, deployment: Path, bundles: Path, tmp_path: Path
) -> None:
    d = world.day
    [long] = world.issue(
        world.city,
        verification(
            world.city,
            "HZ-CLI-LONG",
            standards=[standard_from(chain3[1])],
            performed=d(0),
            issued=d(0),
            valid_until=d(365),
        ),
    )
    path = write(tmp_path / "long.json", long)
    result = verify(world, str(path), "--deployment", str(deployment), "--bundles", str(bundles))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("VALID_WITH_WARNINGS") and "! VALIDITY_PERIOD" in result.stdout
    # ... unless the kind asked for is another.
    asked = verify(
        world, str(path), "--expect-kind", "calibration", "--deployment", str(deployment), "--bundles", str(bundles)
    )
    assert asked.exit_code == 1 and "KIND_AS_EXPECTED" in asked.stdout


def test_folder_mode(world: TraceWorld, chain3: Any, deployment: Path, tmp_path: Path) -> None:
    """Every file of a folder; the folder's bundles are the sources for traceability (no --bundles)."""
    folder = tmp_path / "certs"
    for name, b in zip(("nmi", "provincial", "leaf"), chain3, strict=True):
        write(folder / f"{name}.json", b)
    doc_bundle = with_document(world, "NIM-CLI-PDF", PDF + b"cli", "application/pdf")
    write(folder / "sub" / "doc-bundle.json", doc_bundle)
    (folder / "sub" / "certificate.pdf").write_bytes(PDF + b"cli")
    (folder / "README.txt").write_text("not a certificate", encoding="utf-8")
    write(folder / "other.json", {"name": "not a bundle"})
    (folder / ".hidden.json").write_text("{broken", encoding="utf-8")
    result = verify(world, str(folder), "--deployment", str(deployment))
    assert result.exit_code == 0, result.output
    assert "7 files: 5 valid, 0 invalid, 2 skipped" in result.stdout
    as_json = verify(world, str(folder), "--json", "--deployment", str(deployment))
    entries = {Path(e["path"]).name: e for e in json.loads(as_json.stdout)}
    assert entries["certificate.pdf"]["report"]["digest"] == doc_bundle["digest"]
    assert entries["certificate.pdf"]["report"]["verdict"] == "VALID"
    assert "skipped" in entries["README.txt"] and "skipped" in entries["other.json"]
    # One bad file in the folder makes the whole run fail.
    write(folder / "forged.json", tamper(chain3[2], "item.serial_number", "YB-0000"))
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    failed = verify(world, str(folder), "--deployment", str(deployment))
    assert failed.exit_code == 1
    assert "9 files: 5 valid, 2 invalid, 2 skipped" in failed.stdout and "MALFORMED_JSON" in failed.stdout


def test_a_forged_copy_in_the_folder_does_not_shadow_the_genuine_standard(
    world: TraceWorld, chain3: Any, deployment: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "certs"
    for name, b in zip(("nmi", "provincial", "leaf"), chain3, strict=True):
        write(folder / f"{name}.json", b)
    # Read after the genuine one, claiming the same digest.
    write(folder / "zz-provincial-copy.json", tamper(chain3[1], "results.0.expanded_uncertainty", "0.0001"))
    result = verify(world, str(folder), "--json", "--deployment", str(deployment))
    assert result.exit_code == 1
    entries = {Path(e["path"]).name: e["report"] for e in json.loads(result.stdout)}
    assert entries["leaf.json"]["verdict"] == "VALID", entries["leaf.json"]["reasons"]
    assert entries["zz-provincial-copy.json"]["verdict"] == "INVALID"


def test_a_document_alone_is_looked_up(world: TraceWorld, deployment: Path, tmp_path: Path) -> None:
    data = PDF + b"alone"
    bundle = with_document(world, "NIM-CLI-DOC", data, "application/pdf")
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(data)
    write(tmp_path / "lib" / "b.json", bundle)
    result = verify(world, str(pdf), "--json", "--deployment", str(deployment), "--bundles", str(tmp_path / "lib"))
    assert result.exit_code == 0 and json.loads(result.stdout)["digest"] == bundle["digest"]
    missing = verify(world, str(pdf), "--deployment", str(deployment))
    assert missing.exit_code == 1 and "INVALID (unknown)" in missing.stdout
    assert "0x" + hashlib.sha256(data).hexdigest() in missing.stdout


def test_as_of_before_a_revocation(
    world: TraceWorld, chain3: Any, deployment: Path, bundles: Path, tmp_path: Path
) -> None:
    d = world.day
    [bundle] = world.issue(
        world.city,
        calibration(
            world.city,
            "HZ-CLI-REVOKED",
            serial="YB-CR",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(chain3[1])],
        ),
    )
    world.chain.advance(3600)
    world.chain.contracts.revoke(
        world.city.writer, world.city.lab_id, from_hex(bundle["digest"]), RevocationReason.SUPERSEDED
    )
    revoked_at = world.chain.now()
    path = write(tmp_path / "revoked.json", bundle)
    args = ["--deployment", str(deployment), "--bundles", str(bundles)]
    now = verify(world, str(path), *args)
    assert now.exit_code == 1 and "NOT_REVOKED" in now.stdout
    before = verify(world, str(path), "--as-of", str(revoked_at - 1800), *args)
    assert before.exit_code == 0, before.output


def test_offline_from_a_bundle_and_an_rpc_url(world: TraceWorld, chain3: Any, tmp_path: Path) -> None:
    """No deployment file, no registry: the contract the bundle names, checked to be TraceCert's code."""
    folder = tmp_path / "certs"
    for name, b in zip(("nmi", "provincial", "leaf"), chain3, strict=True):
        write(folder / f"{name}.json", b)
    result = verify(world, str(folder / "leaf.json"), "--bundles", str(folder))
    # Unpinned, the verdict is shown but never passes: a copy of the contracts could name anyone as the root.
    assert result.exit_code == 1, result.output
    assert "pin the root of trust" in result.stderr and "UNPINNED_ROOT" in result.stderr
    pinned = verify(
        world, str(folder / "leaf.json"), "--bundles", str(folder), "--trust-authority", world.national.address
    )
    assert pinned.exit_code == 0 and "pin the root of trust" not in pinned.stderr
    stranger = verify(
        world, str(folder / "leaf.json"), "--bundles", str(folder), "--trust-authority", Account.create().address
    )
    assert stranger.exit_code == 2 and "UNTRUSTED_DEPLOYMENT" in stranger.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json"], "no such file"),  # a path that does not exist
        (["{leaf}", "--as-of", "last tuesday"], "as_of"),  # a date that is not one
        (["{leaf}", "--expect-kind", "inspection"], "expected_kind"),  # a kind that does not exist
        (["{txt}"], "not a proof bundle"),  # a file named explicitly that is not a certificate file
        (["{empty}"], "no files"),  # an empty folder
        (["{leaf}", "--rpc-url", "http://127.0.0.1:9"], "CHAIN_UNAVAILABLE"),  # a node that does not answer
        (["{leaf}", "--deployment", "{nowhere}"], "NO_DEPLOYMENT"),  # a deployment file that does not exist
        (["{leaf}", "--trust-authority", "0x1234"], "bad setting"),  # not an address
    ],
)
def test_usage_errors_exit_2(world: TraceWorld, chain3: Any, tmp_path: Path, args: list[str], message: str) -> None:
    names = {
        "leaf": str(write(tmp_path / "leaf.json", chain3[2])),
        "txt": str(tmp_path / "notes.txt"),
        "empty": str(tmp_path / "empty"),
        "nowhere": str(tmp_path / "nowhere.json"),
    }
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    result = verify(world, *[a.format(**names) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_no_chain_configured_exits_2(chain3: Any, tmp_path: Path) -> None:
    leaf = write(tmp_path / "leaf.json", chain3[2])
    result = runner.invoke(app, ["verify", str(leaf)])
    assert result.exit_code == 2 and "NO_RPC_URL" in result.stderr


def test_the_installed_command(world: TraceWorld, chain3: Any, deployment: Path, bundles: Path, tmp_path: Path) -> None:
    """The real entry point, in its own process, with the RPC URL from the environment."""
    leaf = write(tmp_path / "leaf.json", chain3[2])
    exe = Path(sys.executable).with_name("tracecert")
    env = {**os.environ, "TRACECERT_CHAIN_RPC_URL": world.chain.client.url}
    proc = subprocess.run(
        [str(exe), "verify", str(leaf), "--deployment", str(deployment), "--bundles", str(bundles)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("VALID")
    help_text = subprocess.run([str(exe), "verify", "--help"], capture_output=True, text=True, check=True).stdout
    assert "VALID_WITH_WARNINGS counts as valid" in " ".join(help_text.split())


def _serve_env(world: TraceWorld, deployment: Path, bundles: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TRACECERT_VERIFIER_RPC_URL": world.chain.client.url,
        "TRACECERT_VERIFIER_DEPLOYMENT_FILE": str(deployment),
        "TRACECERT_VERIFIER_BUNDLES_DIR": str(bundles),
        "TRACECERT_VERIFIER_INDEX_FILE": str(tmp_path / "index.sqlite"),
        "TRACECERT_VERIFIER_RATE_LIMIT_PER_MINUTE": "0",
    }


def _listening(process: psutil.Process, port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp"))


def _workers(supervisor: psutil.Process, port: int, count: int, timeout: float = 60) -> list[psutil.Process]:
    """Wait until ``count`` worker processes of the supervisor run ("verifier" in ``ps``) and it listens on the port
    (as it does once one of them is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [c for c in supervisor.children() if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        workers = [c for c in children if c.name() == "verifier"]
        if len(workers) == count and _listening(supervisor, port):
            return workers
        time.sleep(0.2)
    raise AssertionError(f"{count} workers did not come up on port {port}")


def _held(process: psutil.Process, port: int) -> int:
    """The established connections to ``port`` a process holds."""
    return sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in process.net_connections("tcp"))


def test_verifier_serve_with_workers(
    world: TraceWorld, chain3: Any, deployment: Path, bundles: Path, tmp_path: Path
) -> None:
    """`tracecert verifier serve --workers 2`: two processes sharing one index file (the service's default chain
    view), the supervisor handing them connections in turn (8 keep-alive clients: 4 each); a worker that dies is
    replaced; SIGTERM stops everything."""
    port = free_port()
    exe = Path(sys.executable).with_name("tracecert")
    proc = subprocess.Popen(
        [str(exe), "verifier", "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        env=_serve_env(world, deployment, bundles, tmp_path),
    )
    try:
        supervisor = psutil.Process(proc.pid)
        first = _workers(supervisor, port, 2)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(200):  # the workers open the index in turn; wait until both answer
                if all(httpx.get(url + "/health", timeout=10).status_code == 200 for _ in range(8)):
                    break
                time.sleep(0.1)
            assert client.get("/health").json()["chain_view"] == "Index"  # the service's default
            response = client.post("/v1/verify", json=chain3[2])
            assert response.status_code == 200 and response.json()["verdict"] == "VALID"
            kept = [httpx.Client(base_url=url, timeout=30) for _ in range(8)]
            try:
                for one in kept:  # each opens its connection and keeps it
                    assert one.post("/v1/verify", json=chain3[2]).json()["verdict"] == "VALID"
                assert sorted(_held(w, port) for w in first) == [4, 5]  # with `client`'s own connection
            finally:
                for one in kept:
                    one.close()
            first[0].kill()
            first[0].wait(timeout=30)  # gone once the supervisor has reaped it
            replaced = _workers(supervisor, port, 2)
            assert first[0].pid not in {w.pid for w in replaced} and first[1].pid in {w.pid for w in replaced}
            deadline = time.monotonic() + 60
            while httpx.get(url + "/health", timeout=10).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            response = client.post("/v1/verify", json=chain3[2])
            assert response.status_code == 200 and response.json()["verdict"] == "VALID"
        proc.terminate()
        assert proc.wait(timeout=60) == 0
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in replaced)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "{taken}", "--workers", "1"], "cannot listen on 127.0.0.1:"),
        (["--port", "{taken}", "--workers", "2"], "cannot listen on 127.0.0.1:"),
        (["--workers", "0"], "--workers"),
        (["--port", "70000"], "--port"),
        (["--chain-view", "mirror"], "--chain-view 'mirror' is not index or live"),
        (["--log-level", "loud"], "--log-level 'loud' is not"),
    ],
    ids=["taken-port", "taken-port-workers", "no-workers", "bad-port", "bad-view", "bad-log-level"],
)
def test_verifier_serve_usage_errors_exit_2(args: list[str], message: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = runner.invoke(app, ["verifier", "serve", *[a.format(taken=port) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output


def test_verifier_workers_stop_with_a_killed_supervisor(
    world: TraceWorld, deployment: Path, bundles: Path, tmp_path: Path
) -> None:
    """SIGKILL leaves the supervisor no chance to stop its workers: they stop themselves (parent-death signal)."""
    port = free_port()
    exe = Path(sys.executable).with_name("tracecert")
    proc = subprocess.Popen(
        [str(exe), "verifier", "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        env=_serve_env(world, deployment, bundles, tmp_path),
    )
    workers = _workers(psutil.Process(proc.pid), port, 2)
    proc.kill()
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == [] and len(gone) == 2
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # the port is free again


@pytest.mark.parametrize("suffix", [".csv", ".json", ".html"])
def test_a_folder_verified_with_a_report(
    world: TraceWorld, chain3: Any, deployment: Path, tmp_path: Path, suffix: str
) -> None:
    """``--report``: one row per certificate, verdict and reasons by name, lab, instrument, valid until."""
    folder = tmp_path / "certs"
    for name, b in zip(("nmi", "provincial", "leaf"), chain3, strict=True):
        write(folder / f"{name}.json", b)
    write(folder / "forged.json", tamper(chain3[2], "item.serial_number", "YB-0000"))
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    report = tmp_path / f"report{suffix}"
    result = verify(world, str(folder), "--deployment", str(deployment), "--report", str(report))
    assert result.exit_code == 1  # the forged copy and the broken file
    text = report.read_bytes().decode("utf-8-sig")
    if suffix == ".json":
        rows = {Path(r["path"]).name: r for r in json.loads(text)}
    elif suffix == ".csv":
        rows = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(text))}
    else:
        assert "证书核验报告" in text and text.count("<tr class=") == 5 and "有效 3 份" in text
        return
    assert {n: r["verdict"] for n, r in rows.items()} == {
        "nmi.json": "VALID", "provincial.json": "VALID", "leaf.json": "VALID", "forged.json": "INVALID",
        "broken.json": "ERROR",
    }  # fmt: skip
    assert "DIGEST_MATCHES 内容与摘要一致 / Content matches its digest" in rows["forged.json"]["reasons"]
    assert rows["leaf.json"]["lab"] == chain3[2]["record"]["lab"]["name"]
    assert rows["leaf.json"]["valid_until"] == chain3[2]["record"]["dates"]["valid_until"]
    assert rows["leaf.json"]["verdict_zh"] == "有效" and rows["leaf.json"]["lab_grade"] == "A 良好"
    assert "MALFORMED_JSON" in rows["broken.json"]["reasons"]


def test_a_report_of_another_kind_is_refused(world: TraceWorld, chain3: Any, deployment: Path, tmp_path: Path) -> None:
    write(tmp_path / "leaf.json", chain3[2])
    result = verify(world, str(tmp_path / "leaf.json"), "--deployment", str(deployment), "--report", "r.pdf")
    assert result.exit_code == 2 and "a report is .csv, .json, .html" in result.output
