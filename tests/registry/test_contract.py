"""The contract between the verifier and the registry, without mocks: every request the verifier's registry source
makes is answered by the real registry app over HTTP, and every answer it relies on is asserted — by digest, by
document hash (a PDF alone), by lab and number; with the lab's token and anonymously."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from registry.anchoring import AnchoringWorker
from tests.registry.cli.conftest import served
from tests.registry.conftest import LabWorld
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Verdict
from tracecert.verification.sources import RegistrySource

pytestmark = pytest.mark.chain

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


@pytest.fixture
def issued(world: LabWorld) -> Iterator[tuple[str, dict[str, str]]]:
    """The registry over HTTP with a private certificate issued with its PDF (multipart) and anchored; its URL and
    the certificate's digest, number and document hash."""
    with served(world.core) as url:
        sha = "0x" + hashlib.sha256(PDF).hexdigest()
        record = world.record("JD2026-PDF01", original_document={"media_type": "application/pdf", "sha256": sha})
        answer = httpx.post(
            f"{url}/v1/certificates",
            data={"record": json.dumps(record, ensure_ascii=False)},
            files={"document": ("certificate.pdf", PDF, "application/pdf")},
            headers={"Authorization": f"Bearer {world.token}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        AnchoringWorker(world.core).drain()
        yield url, {"digest": answer.json()["digest"], "number": "JD2026-PDF01", "sha256": sha}


def test_the_verifier_finds_a_certificate_by_its_pdf_alone(world: LabWorld, issued: tuple[str, dict[str, str]]) -> None:
    url, cert = issued
    source = RegistrySource(url, world.token)
    bundle = source.by_document(cert["sha256"])
    assert bundle is not None and bundle["digest"] == cert["digest"]
    assert bundle["record"]["original_document"]["sha256"] == cert["sha256"]
    # another document's hash finds nothing (the registry honours the parameter instead of listing everything)
    assert source.by_document("0x" + hashlib.sha256(b"another file").hexdigest()) is None
    report = Verifier(LiveChainView(world.chain.contracts), source).verify_document(PDF)
    assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]
    assert "DOCUMENT_MATCHES" not in report.codes


def test_every_lookup_of_the_registry_source(world: LabWorld, issued: tuple[str, dict[str, str]]) -> None:
    url, cert = issued
    lab = RegistrySource(url, world.token)
    anonymous = RegistrySource(url)
    # by digest: the lab gets its private certificate's bundle; anyone gets a published one (the NMI's standard)
    assert (lab.by_digest(cert["digest"]) or {}).get("digest") == cert["digest"]
    assert anonymous.by_digest(cert["digest"]) is None
    assert (anonymous.by_digest(world.standard["digest"]) or {}).get("digest") == world.standard["digest"]
    assert anonymous.by_digest("0x" + "00" * 32) is None
    # by number: the listing's digests under the number, and their bundles
    assert lab.numbered(world.lab_id, cert["number"]) == [cert["digest"]]
    assert [b["digest"] for b in lab.by_number(world.lab_id, cert["number"])] == [cert["digest"]]
    assert lab.numbered(world.lab_id, "JD2026-NONE") == []
    # by document: only with a token for a private certificate
    assert anonymous.by_document(cert["sha256"]) is None


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"document_sha256": "0x1234"}, 422, "INVALID_DOCUMENT_SHA256"),
        ({"document_sha256": "0x" + "AB" * 32}, 422, "INVALID_DOCUMENT_SHA256"),
        ({"document_sha256": "ab" * 32}, 422, "INVALID_DOCUMENT_SHA256"),
    ],
)
def test_a_malformed_document_hash_is_refused(
    issued: tuple[str, dict[str, str]], query: dict[str, str], status: int, code: str
) -> None:
    url, _ = issued
    answer = httpx.get(f"{url}/v1/certificates", params=query, timeout=30)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
