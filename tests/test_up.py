"""``tracecert up`` as a user runs it: a process on free ports with its own data directory; it serves the demo,
stops cleanly on Ctrl-C (SIGINT), and a second run finds the same deployment and demo data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port
from tracecert.verification.report import Verdict
from verifier.bootstrap import build_verifier
from verifier.config import VerifierSettings


def _start(data_dir: Path, ports: dict[str, int]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACECERT_")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracecert_app.cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(ports["registry"]),
            "--verifier-port",
            str(ports["verifier"]),
            "--chain-port",
            str(ports["chain"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_up(process: subprocess.Popen[str], data_dir: Path, url: str, timeout: float = 120.0) -> dict[str, Any]:
    """Wait until ``up.json`` says everything runs (it is written last) and the registry answers /health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tracecert up exited with {process.returncode}:\n{process.communicate()[0]}")
        try:
            if (data_dir / "up.json").exists():
                return dict(httpx.get(f"{url}/health", timeout=1).json())
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no /health within {timeout}s:\n{process.communicate()[0]}")


def _interrupt(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    return out


def _run_once(data_dir: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    ports = {"registry": free_port(), "verifier": free_port(), "chain": free_port()}
    url = f"http://127.0.0.1:{ports['registry']}"
    process = _start(data_dir, ports)
    try:
        health = _wait_up(process, data_dir, url)
        assert health["status"] == "ok" and health["chain_id"] == 31337
        running = json.loads((data_dir / "up.json").read_text())
        assert running["registry"] == url and running["chain"] == f"http://127.0.0.1:{ports['chain']}"
        summary = json.loads((data_dir / "demo" / "demo.json").read_text())["summary"]
        dispenser = summary["certificates"]["fuel_dispenser"]
        view = httpx.get(f"{url}/v1/certificates/{dispenser['digest']}").json()
        assert view["status"] == "anchored" and view["withheld"] == ["certificate_number", "serial_number"]
        named = httpx.get(
            f"{url}/v1/certificates", params={"lab_id": view["lab_id"], "number": dispenser["certificate_number"]}
        ).json()["items"]  # whoever holds the certificate finds it by its number
        assert [(i["digest"], i["certificate_number"]) for i in named] == [
            (dispenser["digest"], dispenser["certificate_number"])
        ]
        city = summary["labs"]["city"]
        full = httpx.get(
            f"{url}/v1/labs/{city['lab_id']}/certificates/{dispenser['certificate_number']}",
            headers={"Authorization": f"Bearer {city['token']}"},
        ).json()
        assert full["record"]["item"]["name"] == "燃油加油机"
        listing = httpx.get(f"{url}/v1/certificates", params={"limit": 100}).json()
        assert len(listing["items"]) == 4  # the public enumerates the published certificates only
        regulator = {"Authorization": f"Bearer {summary['regulators']['330000']['token']}"}  # over the city lab
        assert len(httpx.get(f"{url}/v1/certificates", params={"limit": 100}, headers=regulator).json()["items"]) == 9
        # the reference standards' certificates are published (bundles for anyone), the enterprises' are not
        standard = summary["certificates"]["nmi_volume"]["digest"]
        assert httpx.get(f"{url}/v1/certificates/{standard}/bundle").status_code == 200
        assert httpx.get(f"{url}/v1/certificates/{dispenser['digest']}/bundle").status_code == 401
        assert sum(item["public"] for item in listing["items"]) == 4
        if running["verifier"]:  # the verifier finds the bundle at the registry and the whole chain checks out
            verified = httpx.get(f"{running['verifier']}/v1/certificates/{dispenser['digest']}/verification").json()
            assert verified["verdict"] == "VALID", verified["reasons"]
            # The credit record is on chain: after a restart too, the report shows the lab's grade (its order was
            # lifted: A) and the verifier reads the whole record (the order and its lifting).
            assert verified["certificate"]["lab_credit"]["grade"]["code"] == "A"
            record = httpx.get(f"{running['verifier']}/v1/credit/{city['lab_id']}").json()
            assert [e["kind"]["code"] for e in record["entries"]] == ["RECTIFICATION", "LIFTING"]
            station = httpx.get(f"{running['verifier']}/v1/credit/{summary['credit'][1]['subject']}").json()
            assert station["grade"]["code"] == "B"
        # An enterprise's own verifier, with no token of the registry: the lab handed it the dispenser's bundle;
        # the standards' certificates up to the NMI come from the registry because their labs published them.
        bundle = httpx.get(
            f"{url}/v1/certificates/{dispenser['digest']}/bundle", headers={"Authorization": f"Bearer {city['token']}"}
        ).json()
        public = build_verifier(
            VerifierSettings(
                rpc_url=running["chain"],
                deployment_file=data_dir / "deployment.json",
                registry_urls=[url],
                data_dir=data_dir / "enterprise",
            )
        )
        report = public.verify_bundle(bundle)
        assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]
        assert report.trace is not None and report.trace.children[0].children  # the chain, found anonymously
    except BaseException:
        process.kill()
        raise
    out = _interrupt(process)
    return summary, view, out


def test_up_twice_finds_everything_again(data_dir: Path) -> None:
    first, view, out = _run_once(data_dir)
    assert "deployed now" in out and "seeded now" in out and "stopped; chain state saved" in out
    assert (data_dir / "anvil-state.json").exists() and not (data_dir / "up.json").exists()
    deployment = (data_dir / "deployment.json").read_text()

    second, again, out = _run_once(data_dir)
    assert "(found)" in out and "Demo data (found" in out
    assert (data_dir / "deployment.json").read_text() == deployment
    assert second["certificates"] == first["certificates"] and second["labs"] == first["labs"]
    assert again["batch"]["tx_hash"] == view["batch"]["tx_hash"]
