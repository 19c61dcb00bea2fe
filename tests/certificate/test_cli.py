"""The certificate commands of the ``tracecert`` CLI, run in process with typer's runner."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracecert.certificate.bundle import Anchor, build_bundle, bundle_to_json, dump_bundle
from tracecert.certificate.canonical import CERTIFICATE_DOMAIN, canonicalize, certificate_digest, to_hex
from tracecert.certificate.dcc import validate_dcc
from tracecert.certificate.merkle import build_batch
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import generate_key, load_key_file
from tracecert_app.cli import app

from .conftest import DCC_EXAMPLES, verification_json

runner = CliRunner()


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(verification_json(), ensure_ascii=False, indent=4))
    return path


def test_canonicalize(record_file: Path) -> None:
    result = runner.invoke(app, ["canonicalize", str(record_file)])
    assert result.exit_code == 0
    assert result.stdout_bytes == canonicalize(verification_json())


def test_canonicalize_refuses_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"a": 1, "a": 2}')
    result = runner.invoke(app, ["canonicalize", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("CANONICALIZATION_FAILED")


def test_digest_of_record_and_document(record_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["digest", str(record_file)])
    assert result.exit_code == 0
    expected = hashlib.sha256(CERTIFICATE_DOMAIN + canonicalize(verification_json())).hexdigest()
    assert result.stdout.split() == ["0x" + expected, "certificate-digest"]

    pdf = tmp_path / "c.pdf"
    pdf.write_bytes(b"%PDF-1.7 not json")
    result = runner.invoke(app, ["digest", str(pdf)])
    assert result.stdout.split() == ["0x" + hashlib.sha256(pdf.read_bytes()).hexdigest(), "document-sha256"]

    result = runner.invoke(app, ["digest", "--document", str(record_file)])
    assert result.stdout.split() == ["0x" + hashlib.sha256(record_file.read_bytes()).hexdigest(), "document-sha256"]


def test_digest_of_invalid_record(tmp_path: Path) -> None:
    doc = verification_json()
    del doc["dates"]["valid_until"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["digest", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("RECORD_INVALID")
    assert "dates.valid_until" in result.stderr and "[required_for_kind]" in result.stderr


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert runner.invoke(app, ["digest", str(tmp_path / "nope.json")]).exit_code == 2


def test_key_generate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECERT_KEY_PASSPHRASE", "s3cret passphrase")
    out = tmp_path / "lab.key"
    result = runner.invoke(app, ["key", "generate", "--out", str(out), "--kdf", "interactive"])
    assert result.exit_code == 0, result.stderr
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert set(lines) == {"key_id", "public_key"}
    key = load_key_file(out, b"s3cret passphrase")
    assert lines["public_key"] == to_hex(key.public_key) and lines["key_id"] == to_hex(key.key_id)
    assert key._seed().hex() not in result.stdout + result.stderr

    shown = runner.invoke(app, ["key", "show", str(out)])
    assert shown.stdout == result.stdout
    again = runner.invoke(app, ["key", "generate", "--out", str(out), "--kdf", "interactive"])
    assert again.exit_code == 2  # never overwrites a key


def test_key_generate_passphrase_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from a file\n")
    out = tmp_path / "lab.key"
    result = runner.invoke(
        app, ["key", "generate", "--out", str(out), "--passphrase-file", str(pw), "--kdf", "interactive"]
    )
    assert result.exit_code == 0, result.stderr
    load_key_file(out, b"from a file")


@pytest.mark.parametrize(
    ("file", "trust", "exit_code", "says"),
    [
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "pydcc/root.crt", 0, "signature: XAdES-LT by "),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", None, 0, "signer not judged"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "dcclib/ca.pem", 2, "DCC_SIGNER_UNTRUSTED"),
        ("gp-temperature-typical-3.2.0-signed-lt-revoked-signer.xml", "pydcc/root.crt", 2, "DCC_SIGNER_REVOKED"),
        ("dcclib-3.3.0-signed-tampered.xml", None, 2, "DCC_SIGNATURE_INVALID"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "no/such/anchor.pem", 2, "USAGE: DCC trust store"),
    ],
)
def test_dcc_import_checks_a_signature(tmp_path: Path, file: str, trust: str | None, exit_code: int, says: str) -> None:
    args = ["dcc", "import", str(DCC_EXAMPLES / file), "--out", str(tmp_path / "r.json"), "--issue-date", "1957-08-14"]
    args += ["--category-code", "1501", "--lab-code", "PTB-7.54"]
    if trust is not None:
        args += ["--trust", str(DCC_EXAMPLES / "trust" / trust)]
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code, result.stderr
    assert says in result.stderr
    assert (tmp_path / "r.json").exists() is (exit_code == 0)


def test_dcc_import_and_export(tmp_path: Path) -> None:
    xml = DCC_EXAMPLES / "ptb-vacuumlab-CDG-3.1.1.xml"
    record_path = tmp_path / "record.json"
    args = ["dcc", "import", str(xml), "--out", str(record_path), "--issue-date", "2020-08-10"]
    args += ["--category-code", "1501", "--lab-code", "PTB-7.54"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "note: person" in result.stderr  # mapping choices are reported
    record = record_from_json(record_path.read_bytes())
    assert record.certificate_number == "75999PTB20"

    out = tmp_path / "out.xml"
    result = runner.invoke(app, ["dcc", "export", str(record_path), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert validate_dcc(out.read_bytes()) == "3.3.0"
    assert runner.invoke(app, ["dcc", "validate", str(out)]).stdout.strip() == "valid DCC 3.3.0"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], "DCC_INCOMPLETE"),
        (["--issue-date", "2020-08-01", "--category-code", "1", "--lab-code", "L"], "RECORD_INVALID"),
    ],
)
def test_dcc_import_errors(args: list[str], code: str) -> None:
    result = runner.invoke(app, ["dcc", "import", str(DCC_EXAMPLES / "ptb-vacuumlab-CDG-3.1.1.xml"), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(code)


def test_dcc_import_refuses_unsafe_xml(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>')
    result = runner.invoke(app, ["dcc", "import", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("XML_UNSAFE")


def test_bundle_verify(tmp_path: Path) -> None:
    key = generate_key()
    record = record_from_json(verification_json())
    digest = certificate_digest(record)
    batch = build_batch([digest, hashlib.sha256(b"other").digest()])
    anchor = Anchor(chain_id=1, contract="0x" + "12" * 20, root=to_hex(batch.root), tx_hash="0x" + "34" * 32,
                    block_number=7, block_timestamp=None)  # fmt: skip
    bundle = build_bundle(record, signature=key.sign(digest), public_key=key.public_key, leaf_index=0,
                          tree_size=2, proof=batch.proofs[0], anchor=anchor)  # fmt: skip
    path = tmp_path / "bundle.json"
    path.write_bytes(dump_bundle(bundle))
    result = runner.invoke(app, ["bundle", "verify", str(path)])
    assert result.exit_code == 0, result.stderr
    # Integrity only: never a bare "OK" that reads as "valid" for a revoked certificate.
    assert result.stdout.startswith("INTACT " + to_hex(digest))
    assert "not a verdict" in result.stderr and "OK" not in result.stdout

    doc = bundle_to_json(bundle)
    doc["proof"]["leaf_index"] = 1
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["bundle", "verify", str(path)])
    assert result.exit_code == 1  # well formed, does not verify
    assert result.stderr.startswith("PROOF_INVALID")

    path.write_text("{}")
    assert runner.invoke(app, ["bundle", "verify", str(path)]).exit_code == 2

    schema = runner.invoke(app, ["bundle", "schema"])
    assert json.loads(schema.stdout)["$id"] == "urn:tracecert:schema:bundle-v1"
