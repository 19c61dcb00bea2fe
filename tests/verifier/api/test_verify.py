"""The verifier's HTTP API against a real chain: verification by digest and by lab and number, the trace, as_of
around a revocation; an app built from settings (a live node, the index), its health and its page."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from tests.verifier.api.conftest import UNKNOWN, codes, json_bytes
from tests.verifier.conftest import TraceWorld, calibration, standard_from
from tracecert.certificate.canonical import from_hex
from tracecert.chain.types import RevocationReason
from verifier.api import create_app
from verifier.bootstrap import resolve_deployment
from verifier.config import VerifierSettings
from verifier.errors import SetupError


def test_get_verification_by_digest(api: TestClient, chain3: Any) -> None:
    leaf = chain3[2]
    body = api.get(f"/v1/certificates/{leaf['digest']}/verification").json()
    assert body["verdict"] == "VALID"
    upper = api.get(f"/v1/certificates/{leaf['digest'].upper().replace('0X', '0x')}/verification").json()
    assert upper["digest"] == leaf["digest"]


def test_unknown_digest_is_an_unknown_invalid_report(api: TestClient) -> None:
    digest = "0x" + "ab" * 32
    r = api.get(f"/v1/certificates/{digest}/verification")
    assert r.status_code == 200
    body = r.json()
    assert body["verdict"] == "INVALID" and body["unknown"] is True and codes(body) == {"ANCHORED"}
    assert body["digest"] == digest and body["trace"] is None


def test_verify_by_lab_and_number(api: TestClient, world: TraceWorld, chain3: Any) -> None:
    number = chain3[2]["record"]["certificate_number"]
    by_id = api.get(f"/v1/labs/{world.city.hex_id}/certificates/{number}/verification").json()
    assert by_id["verdict"] == "VALID" and by_id["digest"] == chain3[2]["digest"]
    by_code = api.get(f"/v1/labs/{world.city.code}/certificates/{number}/verification").json()
    assert by_code["digest"] == chain3[2]["digest"]
    missing = api.get(f"/v1/labs/{world.city.code}/certificates/HZ-NOPE/verification").json()
    assert missing["unknown"] and missing["verdict"] == "INVALID"


def test_number_with_a_slash(api: TestClient, world: TraceWorld, chain3: Any) -> None:
    d = world.day
    [bundle] = world.issue(
        world.city,
        calibration(
            world.city,
            "杭计(2026)校字/0042",
            serial="YB-SLASH",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(chain3[1])],
        ),
    )
    body = api.get(f"/v1/labs/{world.city.code}/certificates/杭计(2026)校字/0042/verification").json()
    assert body["digest"] == bundle["digest"] and body["verdict"] == "VALID", body["reasons"]


def test_trace(api: TestClient, chain3: Any) -> None:
    leaf = chain3[2]
    body = api.get(f"/v1/trace/{leaf['digest']}").json()
    assert body["verdict"] == "VALID" and body["digest"] == leaf["digest"]
    tree = body["trace"]
    assert tree["digest"] == leaf["digest"]
    assert tree["children"][0]["children"][0]["lab_kind"] == "NMI"


def test_revoked_and_valid_as_of_before(api: TestClient, world: TraceWorld, chain3: Any) -> None:
    d = world.day
    [bundle] = world.issue(
        world.city,
        calibration(
            world.city,
            "HZ-API-REVOKED",
            serial="YB-R",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(chain3[1])],
        ),
    )
    world.chain.advance(3600)
    world.chain.contracts.revoke(
        world.city.writer, world.city.lab_id, from_hex(bundle["digest"]), RevocationReason.ERROR_IN_CONTENT
    )
    revoked_at = world.chain.now()
    now = api.get(f"/v1/certificates/{bundle['digest']}/verification").json()
    assert now["verdict"] == "INVALID" and "NOT_REVOKED" in codes(now)
    before = api.get(f"/v1/certificates/{bundle['digest']}/verification?as_of={revoked_at - 1800}").json()
    assert before["verdict"] == "VALID", before["reasons"]


# ---------------------------------------------------------------------------------------------------- settings, health


def test_app_built_from_settings(world: TraceWorld, chain3: Any, tmp_path: Path) -> None:
    """No verifier given: the app opens the chain from an RPC URL, a deployment file and a bundles folder."""
    deployment = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(deployment)
    folder = tmp_path / "bundles"
    folder.mkdir()
    for i, b in enumerate(chain3):
        (folder / f"{i}.json").write_text(json_bytes(b).decode(), encoding="utf-8")
    base = {"rpc_url": world.chain.client.url, "bundles_dir": folder, "data_dir": tmp_path / "none"}
    settings = VerifierSettings(deployment_file=deployment, **base)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["chain_view"] == "LiveChainView"
        assert health["certificate_registry"] == world.chain.contracts.deployment.certificate_registry
        body = client.get(f"/v1/certificates/{chain3[2]['digest']}/verification").json()
        assert body["verdict"] == "VALID", body["reasons"]
    # Without a file: the CertificateRegistry address, pinned to the national authority.
    registry = world.chain.contracts.deployment.certificate_registry
    pinned = VerifierSettings(certificate_registry=registry, trusted_authorities=[world.national.address], **base)
    with TestClient(create_app(pinned)) as client:
        assert client.get(f"/v1/certificates/{chain3[2]['digest']}/verification").json()["verdict"] == "VALID"
    # A root of trust that is not this deployment's: refused.
    stranger = Account.create().address
    untrusted = VerifierSettings(deployment_file=deployment, trusted_authorities=[stranger], **base)
    with TestClient(create_app(untrusted)) as client:
        r = client.get(f"/v1/certificates/{chain3[2]['digest']}/verification")
        assert r.status_code == 503 and r.json()["error"]["code"] == "UNTRUSTED_DEPLOYMENT"
        assert client.get("/health").status_code == 503
    # A regulator below the root is not a root of trust either.
    provincial = VerifierSettings(deployment_file=deployment, trusted_authorities=[world.province.address], **base)
    with TestClient(create_app(provincial)) as client:
        assert client.get("/health").json()["error"]["code"] == "UNTRUSTED_DEPLOYMENT"


@pytest.mark.parametrize(
    ("credit", "found"),
    [
        ("credit", "credit"),  # the deployment's CreditRegistry: the credit record is known
        (None, ""),  # none given: the credit record is unknown (nothing on chain points to it)
        ("certificates", "NO_DEPLOYMENT"),  # another contract's code
        ("stranger", "NO_DEPLOYMENT"),  # no code at all
        ("not-an-address", "NO_DEPLOYMENT"),
    ],
)
def test_a_bare_contract_address_with_its_credit_registry(world: TraceWorld, credit: str | None, found: str) -> None:
    """Without a deployment file, the CreditRegistry is found only when given, and only when its code is TraceCert's
    over the same TrustRegistry."""
    deployment = world.chain.contracts.deployment
    addresses = {"credit": deployment.credit_registry, "certificates": deployment.certificate_registry,
                 "stranger": Account.create().address, "not-an-address": "0x1234"}  # fmt: skip
    settings = VerifierSettings(
        rpc_url=world.chain.client.url,
        data_dir=Path("/nonexistent"),
        certificate_registry=deployment.certificate_registry,
        credit_registry=addresses[credit] if credit else None,
    )
    try:
        resolved = resolve_deployment(world.chain.client, settings)
    except SetupError as exc:
        assert exc.code == found
    else:
        assert resolved.credit_registry == (deployment.credit_registry if found == "credit" else "")
        assert found in ("credit", "")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACECERT_CHAIN_RPC_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRACECERT_REGISTRY_URL", "http://127.0.0.1:2")
    monkeypatch.setenv("TRACECERT_VERIFIER_TRUSTED_AUTHORITIES", "0x" + "11" * 20 + ", 0x" + "22" * 20)
    monkeypatch.setenv("TRACECERT_VERIFIER_RATE_LIMIT_PER_MINUTE", "5")
    s = VerifierSettings()
    assert s.rpc_url == "http://127.0.0.1:1" and s.data_dir == tmp_path
    assert s.registry_urls == ["http://127.0.0.1:2"] and len(s.trusted_authorities) == 2
    assert s.rate_limit_per_minute == 5 and s.deployment_path == tmp_path / "deployment.json"
    monkeypatch.setenv("TRACECERT_VERIFIER_RPC_URL", "http://127.0.0.1:3")
    assert VerifierSettings().rpc_url == "http://127.0.0.1:3"


def test_app_over_the_index(world: TraceWorld, chain3: Any, tmp_path: Path) -> None:
    """chain_view=index: the verifier's own index catches up at start and follows the chain while serving."""
    deployment = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(deployment)
    folder = tmp_path / "bundles"
    for i, b in enumerate(chain3):
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.json").write_text(json_bytes(b).decode(), encoding="utf-8")
    d = world.day
    [later] = world.issue(
        world.city,
        calibration(
            world.city,
            "HZ-API-INDEX",
            serial="YB-IX",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(chain3[1])],
        ),
    )
    (folder / "later.json").write_text(json_bytes(later).decode(), encoding="utf-8")
    settings = VerifierSettings(
        rpc_url=world.chain.client.url,
        deployment_file=deployment,
        bundles_dir=folder,
        data_dir=tmp_path,
        chain_view="index",
        index_interval=0.1,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["chain_view"] == "Index"
        body = client.get(f"/v1/certificates/{chain3[2]['digest']}/verification").json()
        assert body["verdict"] == "VALID", body["reasons"]
        world.chain.contracts.revoke(
            world.city.writer, world.city.lab_id, from_hex(later["digest"]), RevocationReason.ERROR_IN_CONTENT
        )
        deadline = time.monotonic() + 20
        while True:
            body = client.get(f"/v1/certificates/{later['digest']}/verification").json()
            if "NOT_REVOKED" in codes(body) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "NOT_REVOKED" in codes(body), body["reasons"]
    assert (tmp_path / "verifier-index.sqlite").exists()


# ---------------------------------------------------------------------------------------------------- the page


def test_page_and_static_files_are_local(api: TestClient) -> None:
    for path in ("/", "/c/" + UNKNOWN):
        r = api.get(path)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "/static/app.js" in r.text and 'lang="zh-CN"' in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
    served = (("/static/app.js", "javascript"), ("/static/app.css", "text/css"), ("/shared/base.css", "text/css"))
    for path, kind in served:
        r = api.get(path)
        assert r.status_code == 200 and kind in r.headers["content-type"]
    static = Path(__file__).parents[3] / "verifier" / "static"
    for file in static.iterdir():
        text = file.read_text(encoding="utf-8")
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{file.name} refers to {urls}"
    assert api.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    assert api.get("/openapi.json").json()["paths"]["/v1/verify"]
