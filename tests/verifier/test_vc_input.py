"""The verifier takes a W3C Verifiable Credential of a certificate: recognised by its ``@context``/``type``, read
back (refused by code when it is not one of ours or its proof fails), verified as the bundle or record it carries
against a real chain, the proof's key checked as a key of the lab (VC_PROOF), the status answered from the chain;
through the HTTP API and as a file."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.verifier.conftest import TraceWorld, calibration, chain_of_three
from tracecert.certificate.bundle import parse_bundle
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import SigningKey, generate_key
from tracecert.certificate.vc import build_credential, did_key, prove
from tracecert.chain.types import RevocationReason
from tracecert.verification.report import Outcome, Report, Verdict
from tracecert_app.cli import app
from verifier.api import create_app
from verifier.config import VerifierSettings
from verifier.errors import InvalidRequest
from verifier.inputs import input_from_file, input_from_json

Doc = dict[str, Any]


def _vc(bundle: Doc, key: SigningKey | None) -> Doc:
    return build_credential(parse_bundle(bundle), key=key)


def _file(doc: Doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def _key_checks(report: Report) -> list[tuple[Outcome, str]]:
    """KEY_OF_LAB (the record's signature) then VC_PROOF (the credential's proof), as the report has them."""
    return [(c.outcome, c.detail) for c in report.checks if c.code in ("KEY_OF_LAB", "VC_PROOF")]


@pytest.fixture
def world(trace_world: TraceWorld) -> TraceWorld:
    return trace_world


@pytest.fixture
def chain3(world: TraceWorld) -> tuple[Doc, Doc, Doc]:
    return chain_of_three(world)


@pytest.fixture
def leaf(chain3: tuple[Doc, Doc, Doc]) -> Doc:
    return chain3[2]


def test_proved_credential_verifies_as_its_bundle(world: TraceWorld, leaf: Doc) -> None:
    job = input_from_file(_file(_vc(leaf, world.city.key)), name="vc.json")
    assert job.credential is not None and job.bundle == leaf
    report = job.run(world.verifier)
    plain = world.verifier.verify_bundle(leaf)
    assert report.verdict is Verdict.VALID and plain.verdict is Verdict.VALID
    assert [c.code for c in report.checks if c.code != "VC_PROOF"] == [c.code for c in plain.checks]
    outcomes = _key_checks(report)
    assert [o for o, _ in outcomes] == [Outcome.PASS, Outcome.PASS]
    assert did_key(world.city.key.public_key) in outcomes[1][1]
    credential = report.to_dict()["certificate"]["credential"]
    assert credential["proof"]["verification_method"] == did_key(world.city.key.public_key)
    assert credential["status"]["chainId"] == world.chain.client.chain_id


def test_unproved_credential_rests_on_the_chain(world: TraceWorld, leaf: Doc) -> None:
    report = input_from_file(_file(_vc(leaf, None))).run(world.verifier)
    assert report.verdict is Verdict.VALID
    assert [o for o, _ in _key_checks(report)] == [Outcome.PASS]  # the bundle's key only
    credential = report.to_dict()["certificate"]["credential"]
    assert credential["proof"] is None and "rests on the chain" in credential["note"]


@pytest.mark.parametrize("signer", ["another lab's key", "a key on no chain"])
def test_credential_proved_by_a_key_not_of_the_lab_is_invalid(world: TraceWorld, leaf: Doc, signer: str) -> None:
    key = world.provincial.key if signer == "another lab's key" else generate_key()
    report = input_from_file(_file(_vc(leaf, key))).run(world.verifier)
    assert report.verdict is Verdict.INVALID and report.codes == {"VC_PROOF"}
    assert [o for o, _ in _key_checks(report)] == [Outcome.PASS, Outcome.FAIL]


def test_revoked_certificate_status_answered_from_the_chain(world: TraceWorld, leaf: Doc) -> None:
    vc = _vc(leaf, world.city.key)
    world.chain.advance(3600)
    world.chain.contracts.revoke(
        world.city.writer, world.city.lab_id, from_hex(leaf["digest"]), RevocationReason.ERROR_IN_CONTENT
    )
    report = input_from_json(vc).run(world.verifier)
    assert report.verdict is Verdict.INVALID and "NOT_REVOKED" in report.codes


def test_status_on_another_chain_is_not_answered(world: TraceWorld, leaf: Doc) -> None:
    other = copy.deepcopy(leaf)
    other["anchor"]["chain_id"] = 1
    report = input_from_json(_vc(other, world.city.key)).run(world.verifier)
    assert report.unknown and report.verdict is Verdict.INVALID
    [anchored] = [c for c in report.checks if c.code == "ANCHORED"]
    assert anchored.outcome is Outcome.SKIP and "chain 1" in anchored.detail


def test_credential_of_a_record_is_found_through_the_sources(world: TraceWorld, leaf: Doc) -> None:
    vc = build_credential(record_from_json(leaf["record"]), key=world.city.key)
    job = input_from_json(vc)
    assert job.bundle is None and job.record == leaf["record"]
    assert job.run(world.verifier).verdict is Verdict.VALID
    never = calibration(world.city, "HZ-NEVER", serial="X", item="压力表", u="0.01")
    report = input_from_json(build_credential(record_from_json(never))).run(world.verifier)
    assert report.unknown and "ANCHORED" in report.codes


def _tampered(vc: Doc) -> Doc:
    out = copy.deepcopy(vc)
    out["credentialSubject"]["record"]["certificate_number"] = "HZ-FORGED"
    return out


def _forged_by_other_key(vc: Doc) -> Doc:
    forged = prove({k: v for k, v in vc.items() if k != "proof"}, generate_key())
    forged["proof"]["verificationMethod"] = vc["proof"]["verificationMethod"]
    return forged


def _with(path: list[str | int], value: Any) -> Callable[[Doc], Doc]:
    def change(vc: Doc) -> Doc:
        out = copy.deepcopy(vc)
        target: Any = out
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        return out

    return change


_REFUSED: list[tuple[str, Callable[[Doc], Doc], str]] = [
    ("wrong @context", _with(["@context"], ["https://www.w3.org/2018/credentials/v1"]), "VC_INVALID"),
    ("not our credential type", _with(["type"], ["VerifiableCredential"]), "VC_INVALID"),
    ("tampered credentialSubject", _tampered, "VC_PROOF_INVALID"),
    ("proof by another key", _forged_by_other_key, "VC_PROOF_INVALID"),
    ("unknown cryptosuite", _with(["proof", "cryptosuite"], "ecdsa-jcs-2019"), "VC_CRYPTOSUITE_UNSUPPORTED"),
    ("malformed evidence", _with(["evidence", 0, "inclusionProof"], {"leaf_index": -1}), "VC_PROOF_INVALID"),
]


@pytest.mark.parametrize(("change", "code"), [(c, k) for _, c, k in _REFUSED], ids=[n for n, _, _ in _REFUSED])
def test_refused_credential(world: TraceWorld, leaf: Doc, change: Callable[[Doc], Doc], code: str) -> None:
    bad = change(_vc(leaf, world.city.key))
    for read in (lambda: input_from_json(bad), lambda: input_from_file(_file(bad))):
        with pytest.raises(InvalidRequest) as info:
            read()
        assert info.value.code == code


def test_refusal_names_the_fields(world: TraceWorld, leaf: Doc) -> None:
    vc = _vc(leaf, None)
    vc["evidence"][0]["inclusionProof"] = {"leaf_index": -1}
    with pytest.raises(InvalidRequest) as info:
        input_from_json(vc)
    assert info.value.code == "VC_INVALID"
    assert any(e["field"].startswith("evidence.proof") for e in info.value.details["errors"])


# ------------------------------------------------------------------ the HTTP API


@pytest.fixture
def api(world: TraceWorld) -> Iterator[TestClient]:
    settings = VerifierSettings(max_upload_bytes=256 * 1024, rate_limit_per_minute=0)
    with TestClient(create_app(settings, verifier=world.verifier)) as client:
        yield client


def test_api_verifies_a_credential(api: TestClient, world: TraceWorld, leaf: Doc) -> None:
    vc = _vc(leaf, world.city.key)
    body = api.post("/v1/verify", json=vc).json()
    assert body["verdict"] == "VALID" and body["digest"] == leaf["digest"]
    assert body["certificate"]["credential"]["proof"]["key_id"] == "0x" + world.city.key.key_id.hex()
    wrapped = api.post("/v1/verify", json={"credential": vc, "expected_kind": "verification"}).json()
    assert wrapped["verdict"] == "INVALID" and "KIND_AS_EXPECTED" in {r["code"] for r in wrapped["reasons"]}
    uploaded = api.post("/v1/verify", files={"file": ("vc.json", _file(vc), "application/json")}).json()
    assert uploaded["verdict"] == "VALID"


@pytest.mark.parametrize(("change", "code"), [(c, k) for _, c, k in _REFUSED], ids=[n for n, _, _ in _REFUSED])
def test_api_refuses_a_bad_credential(
    api: TestClient, world: TraceWorld, leaf: Doc, change: Callable[[Doc], Doc], code: str
) -> None:
    response = api.post("/v1/verify", json=change(_vc(leaf, world.city.key)))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


# ------------------------------------------------------------------ tracecert verify FILE


def test_cli_verifies_a_credential_file(
    world: TraceWorld, chain3: tuple[Doc, Doc, Doc], leaf: Doc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("TRACECERT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path / "data"))
    deployment = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(deployment)
    standards = tmp_path / "standards"
    standards.mkdir()
    for name, bundle in zip(("nmi.json", "provincial.json"), chain3[:2], strict=True):
        (standards / name).write_bytes(_file(bundle))
    good, bad = tmp_path / "vc.json", tmp_path / "forged.json"
    vc = _vc(leaf, world.city.key)
    good.write_bytes(_file(vc))
    bad.write_bytes(_file(_tampered(vc)))
    base = ["verify", "--rpc-url", world.chain.client.url, "--deployment", str(deployment), "--json"]
    result = CliRunner().invoke(app, [*base, "--bundles", str(standards), str(good)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "VALID" and report["digest"] == leaf["digest"]
    assert report["certificate"]["credential"]["proof"]["verification_method"] == did_key(world.city.key.public_key)
    refused = CliRunner().invoke(app, [*base, str(bad)])
    assert refused.exit_code != 0 and "VC_PROOF_INVALID" in refused.output
