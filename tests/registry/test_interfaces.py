"""The labs' scenarios that every interface of the registry must play alike: the HTTP API (over real HTTP, with
httpx) and the ``tracecert`` command line, both against the world's registry served by uvicorn. Each scenario is
one test, parametrized over the interface (:class:`Interface`: :class:`Api`, :class:`Cli`); what one interface
adds for people (the command line's printed lines) is asserted where it has it (:func:`expect_printed`).

The served app runs without its anchoring worker: the scenarios anchor (and put revocations on chain) themselves
with :func:`tests.registry.test_api.drain`, so that "before anchoring" is a moment they control."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from typer.testing import Result

from registry.cli.common import parse_time
from tests.registry.cli.conftest import invoke, served
from tests.registry.conftest import LAB_CODE, LabWorld
from tests.registry.test_api import bearer, drain
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.dcc import export_dcc
from tracecert.certificate.model import record_from_json
from tracecert.chain.types import CertificateState, RevocationReason

INTERFACES = ["api", "cli"]
CHINA = dt.timezone(dt.timedelta(hours=8))
UNKNOWN_DIGEST = "0x" + "ab" * 32

#: A revocation reason as the scenarios give it: by name (a :class:`RevocationReason`), by code (an ``int``) or as
#: typed (a ``str``, e.g. one that is no reason at all).
Reason = RevocationReason | int | str


class Refused(Exception):
    """An interface refused: the machine ``code`` and its ``status`` (the HTTP status, or the command's exit code)."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code, self.status = code, status


@dataclass(frozen=True)
class Issued:
    """A certificate the registry accepted: its digest, whether it is published, and whether it is new."""

    digest: str
    public: bool
    created: bool


@dataclass(frozen=True)
class Shown:
    """A certificate as an interface shows it: the registry's view (JSON) and, for an interface that prints for
    people (the command line), the printed text; None for the API, which answers JSON only."""

    view: dict[str, Any]
    printed: str | None


class Interface(Protocol):
    """What a lab (or its regulator) does with the registry, whatever it does it through. Every method raises
    :class:`Refused` when the registry (or the interface itself) refuses."""

    name: str
    url: str  # the served registry

    def issue(self, record: dict[str, Any], *, token: str, public: bool = False, as_dcc: bool = False) -> Issued:
        """Issue ``record`` (as a DCC XML document with ``as_dcc``: multipart with the document), published with
        ``public``."""
        ...

    def status(self, digest: str, *, token: str | None = None) -> Shown:
        """The certificate ``digest``, as ``token``'s holder (anyone without one) sees it."""
        ...

    def find(self, lab_code: str, number: str) -> Shown:
        """The certificate ``number`` of the lab with ``lab_code``, as anyone sees it."""
        ...

    def revoke(self, digest: str, reason: Reason, *, token: str, effective: dt.date | None = None) -> dict[str, Any]:
        """Revoke ``digest`` from midnight (China time) of ``effective`` (default: now); the registry's operation."""
        ...

    def publish(self, digests: Sequence[str], *, token: str) -> list[tuple[str, str]]:
        """Publish ``digests``: each one's digest and status, in order."""
        ...


# ====================================================================== the HTTP API


class Api:
    """The registry's HTTP API over real HTTP (httpx)."""

    name = "api"

    def __init__(self, url: str, http: httpx.Client) -> None:
        self.url, self.http = url, http

    def _answer(self, response: httpx.Response, *ok: int) -> dict[str, Any]:
        if response.status_code not in ok:
            error = response.json()["error"]
            raise Refused(error["code"], response.status_code, error["message"])
        return dict(response.json())

    def issue(self, record: dict[str, Any], *, token: str, public: bool = False, as_dcc: bool = False) -> Issued:
        """``POST /v1/certificates``: a JSON body, or with ``as_dcc`` multipart with the DCC as the document."""
        headers = bearer(token) if token else {}
        if as_dcc:
            xml = export_dcc(record_from_json(record))
            bound = {"media_type": "application/xml", "sha256": "0x" + hashlib.sha256(xml).hexdigest()}
            bound_record = json.dumps(record | {"original_document": bound}, ensure_ascii=False)
            files = {
                "record": (None, bound_record, "application/json"),
                "public": (None, "true" if public else "false"),
                "document": (f"{record['certificate_number']}.xml", xml, "application/xml"),
            }
            response = self.http.post("/v1/certificates", files=files, headers=headers)
        else:
            body = {"record": record} | ({"public": True} if public else {})
            response = self.http.post("/v1/certificates", json=body, headers=headers)
        answer = self._answer(response, 200, 201)
        assert answer["created"] is (response.status_code == 201), answer
        return Issued(answer["digest"], answer["public"], answer["created"])

    def status(self, digest: str, *, token: str | None = None) -> Shown:
        """``GET /v1/certificates/{digest}``."""
        response = self.http.get(f"/v1/certificates/{digest}", headers=bearer(token) if token else {})
        return Shown(self._answer(response, 200), None)

    def find(self, lab_code: str, number: str) -> Shown:
        """``GET /v1/labs/{lab_id}/certificates/{number}``."""
        response = self.http.get(f"/v1/labs/{to_hex(derive_lab_id(lab_code))}/certificates/{number}")
        return Shown(self._answer(response, 200), None)

    def revoke(self, digest: str, reason: Reason, *, token: str, effective: dt.date | None = None) -> dict[str, Any]:
        """``POST /v1/certificates/{digest}/revoke``: a reason's name as the API takes it, a code as a number; the
        moment as an ISO date-time with China's offset."""
        body: dict[str, Any] = {"reason": reason.name.lower() if isinstance(reason, RevocationReason) else reason}
        if effective is not None:
            body["effective_time"] = dt.datetime.combine(effective, dt.time(), CHINA).isoformat()
        response = self.http.post(f"/v1/certificates/{digest}/revoke", json=body, headers=bearer(token))
        return self._answer(response, 202)

    def publish(self, digests: Sequence[str], *, token: str) -> list[tuple[str, str]]:
        """``POST /v1/certificates/{digest}/publish``, one by one; each answer is the caller's view of it (its lab
        and a regulator over the lab see the record)."""
        published = []
        for digest in digests:
            view = self._answer(self.http.post(f"/v1/certificates/{digest}/publish", headers=bearer(token)), 200)
            assert view["public"] is True and view["record"]["certificate_number"] == view["certificate_number"]
            published.append((view["digest"], view["status"]))
        return published


# ====================================================================== the command line


class Cli:
    """The ``tracecert`` command line, run in-process against the served registry; records written to
    ``directory``."""

    name = "cli"

    def __init__(self, url: str, directory: Path) -> None:
        self.url, self.directory = url, directory
        self._files = count(1)

    def _run(self, *args: str, token: str | None = None) -> Result:
        """``tracecert ARGS --registry URL [--token TOKEN]`` (never a token from the environment)."""
        options = ("--registry", self.url) + (("--token", token) if token is not None else ())
        return invoke(*args, *options, env={"TRACECERT_TOKEN": ""})

    @staticmethod
    def _refused(result: Result, code: str | None = None) -> Refused:
        """The refusal of a command that failed: the code on its ``error CODE:`` line (else ``code``); the exit code
        is 2 for a usage error and 1 for every other refusal."""
        match = re.search(r"error ([A-Z_]+):", result.stderr)
        assert match or code, (result.stdout, result.stderr)
        refused = Refused(match.group(1) if match else str(code), result.exit_code, result.stderr)
        assert result.exit_code == (2 if refused.code == "USAGE" else 1), (result.exit_code, result.output)
        return refused

    def issue(self, record: dict[str, Any], *, token: str, public: bool = False, as_dcc: bool = False) -> Issued:
        """``tracecert issue FILE --json [--public]``: a record's JSON file, or with ``as_dcc`` its DCC XML."""
        path = self.directory / f"record-{next(self._files)}.{'xml' if as_dcc else 'json'}"
        if as_dcc:
            path.write_bytes(export_dcc(record_from_json(record)))
        else:
            path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        result = self._run("issue", str(path), "--json", *(("--public",) if public else ()), token=token)
        summary = json.loads(result.stdout) if result.stdout.strip() else {"items": [{}]}
        [item] = summary["items"]
        if result.exit_code != 0:
            raise self._refused(result, item.get("code"))
        assert item["outcome"] in ("accepted", "existing"), item
        assert (summary["accepted"], summary["existing"], summary["refused"]) == (
            int(item["outcome"] == "accepted"), int(item["outcome"] == "existing"), 0
        )  # fmt: skip
        return Issued(item["digest"], item["public"], item["outcome"] == "accepted")

    def _shown(self, *args: str, token: str | None = None) -> Shown:
        """``tracecert status ARGS``, as JSON and as printed."""
        as_json = self._run("status", *args, "--json", token=token)
        if as_json.exit_code != 0:
            raise self._refused(as_json)
        printed = self._run("status", *args, token=token)
        assert printed.exit_code == 0, printed.output
        return Shown(dict(json.loads(as_json.stdout)), printed.stdout)

    def status(self, digest: str, *, token: str | None = None) -> Shown:
        """``tracecert status DIGEST``."""
        return self._shown(digest, token=token)

    def find(self, lab_code: str, number: str) -> Shown:
        """``tracecert status --lab CODE --number NUMBER``."""
        return self._shown("--lab", lab_code, "--number", number)

    def revoke(self, digest: str, reason: Reason, *, token: str, effective: dt.date | None = None) -> dict[str, Any]:
        """``tracecert revoke DIGEST --reason R [--effective-time YYYY-MM-DD] --json``: a reason's name as people
        write it (``error-in-content``), a code as its number."""
        named = reason.name.lower().replace("_", "-") if isinstance(reason, RevocationReason) else str(reason)
        when = ("--effective-time", effective.isoformat()) if effective is not None else ()
        result = self._run("revoke", digest, "--reason", named, *when, "--json", token=token)
        if result.exit_code != 0:
            raise self._refused(result)
        return dict(json.loads(result.stdout))

    def publish(self, digests: Sequence[str], *, token: str) -> list[tuple[str, str]]:
        """``tracecert publish DIGESTS``: one digest read from its printed line, several from the ``--json``
        summary."""
        result = self._run("publish", *digests, *(("--json",) if len(digests) > 1 else ()), token=token)
        if result.exit_code != 0:
            raise self._refused(result)
        if len(digests) == 1:
            return re.findall(r"^published {4}(0x[0-9a-f]{64}) \((\w+)\)$", result.stdout, re.MULTILINE)
        summary = json.loads(result.stdout)
        items = [{"digest": i["digest"], "outcome": "published", "status": i["status"]} for i in summary["items"]]
        assert summary == {"published": len(digests), "refused": 0, "items": items}, summary
        return [(i["digest"], i["status"]) for i in items]


# ====================================================================== fixtures and helpers


@pytest.fixture(params=INTERFACES)
def interface(request: pytest.FixtureRequest, world: LabWorld, tmp_path: Path) -> Iterator[Interface]:
    """The interface named by the parameter, against the world's registry served over real HTTP (no worker)."""
    with served(world.core, run_worker=False) as url:
        if request.param == "api":
            with httpx.Client(base_url=url, timeout=60.0) as http:
                yield Api(url, http)
        else:
            yield Cli(url, tmp_path)


def refusal(call: Callable[[], object]) -> Refused:
    """The refusal ``call`` raises."""
    with pytest.raises(Refused) as refused:
        call()
    return refused.value


def attempt(call: Callable[[], object]) -> object:
    """What ``call`` returns, or the code of its refusal."""
    try:
        return call()
    except Refused as refused:
        return refused.code


def expect_printed(interface: Interface, shown: Shown, *lines: str, never: tuple[str, ...] = ()) -> None:
    """What a person reads where ``interface`` prints for people (the command line): every one of ``lines`` and
    none of ``never``. The API prints nothing: it answers JSON only."""
    if interface.name == "api":
        assert shown.printed is None
        return
    assert shown.printed is not None
    for line in lines:
        assert line in shown.printed, shown.printed
    for text in never:
        assert text not in shown.printed, shown.printed


def anonymous_bundle(url: str, digest: str) -> tuple[int, str | None]:
    """The HTTP status of ``digest``'s proof bundle asked for without a token, and the error code if refused."""
    response = httpx.get(f"{url}/v1/certificates/{digest}/bundle")
    return response.status_code, None if response.is_success else response.json()["error"]["code"]


# ====================================================================== scenarios


def test_the_lab_revokes_an_anchored_certificate(interface: Interface, world: LabWorld) -> None:
    digest = interface.issue(world.record("JD2026-60001"), token=world.token).digest
    drain(world)
    found = interface.find(LAB_CODE, "JD2026-60001")
    assert (found.view["digest"], found.view["status"]) == (digest, "anchored")
    expect_printed(interface, found, f"digest       {digest}", "status       anchored")

    op = interface.revoke(digest, RevocationReason.ERROR_IN_CONTENT, token=world.token, effective=dt.date(2026, 1, 1))
    assert (op["op"], op["state"], op["reason"], op["reason_name"]) == ("revoke", "pending", 1, "ERROR_IN_CONTENT")
    drain(world)
    on_chain = world.chain.contracts.status(from_hex(world.lab_id), from_hex(digest))
    assert (on_chain.state, on_chain.reason) == (CertificateState.REVOKED, RevocationReason.ERROR_IN_CONTENT)
    assert on_chain.effective_time == parse_time("2026-01-01")  # midnight in China
    shown = interface.status(digest)
    lifecycle = shown.view["lifecycle"]
    assert (lifecycle["state"], lifecycle["reason_name"]) == ("done", "ERROR_IN_CONTENT") and lifecycle["tx_hash"]
    assert lifecycle["effective_time"] == parse_time("2026-01-01")
    # what it is worth now, by the reason's names: never "status anchored" for a revoked certificate
    expect_printed(
        interface,
        shown,
        "status       revoked (证书内容有误 / error in content) — was anchored",
        "revoked      证书内容有误 / error in content, effective 2026-01-01 00:00 (UTC+8)",
        never=("status       anchored", "ERROR_IN_CONTENT"),
    )

    twice = refusal(lambda: interface.revoke(digest, RevocationReason.FRAUD, token=world.token))
    assert twice.code == "ALREADY_REVOKED"
    assert refusal(lambda: interface.revoke(digest, 1, token=world.other_token)).code == "WRONG_LAB"
    # no reason at all: the command line refuses it before sending anything
    bored = refusal(lambda: interface.revoke(digest, "BORED", token=world.token)).code
    assert bored == {"api": "INVALID_REASON", "cli": "USAGE"}[interface.name]
    assert refusal(lambda: interface.status(UNKNOWN_DIGEST)).code == "UNKNOWN_CERTIFICATE"


def test_issue_public_and_publish_later(interface: Interface, world: LabWorld) -> None:
    # public from the start: a reference standard's certificate (a DCC goes as multipart, with the flag)
    standard = interface.issue(world.record("JD2026-70001"), token=world.token, public=True)
    private = interface.issue(world.record("JD2026-70002"), token=world.token)
    dcc = interface.issue(world.record("JD2026-70009"), token=world.token, public=True, as_dcc=True)
    assert (standard.public, private.public, dcc.public) == (True, False, True)

    # published before it is anchored: public at once, its bundle for anyone once anchored
    early = interface.issue(world.record("JD2026-70003"), token=world.token)
    assert interface.publish([early.digest], token=world.token) == [(early.digest, "pending")]
    view = interface.status(early.digest, token=world.token).view  # the lab sees its record
    assert (view["public"], view["status"], view["record"]["certificate_number"]) == (True, "pending", "JD2026-70003")
    assert anonymous_bundle(interface.url, early.digest) == (404, "NOT_ANCHORED")
    drain(world)
    assert anonymous_bundle(interface.url, early.digest) == (200, None)
    assert anonymous_bundle(interface.url, standard.digest) == (200, None)
    assert anonymous_bundle(interface.url, private.digest) == (401, "UNAUTHORIZED")
    shown = interface.status(standard.digest)
    assert shown.view["public"] is True
    expect_printed(interface, shown, "public       yes")
    shown = interface.status(private.digest)
    assert shown.view["public"] is False
    expect_printed(interface, shown, "public       no")

    # published later by the lab; then again, with others, by a regulator over the lab: nothing changes
    assert interface.publish([private.digest], token=world.token) == [(private.digest, "anchored")]
    assert anonymous_bundle(interface.url, private.digest) == (200, None)
    again = interface.publish([early.digest, private.digest, standard.digest], token=world.regulator_token)
    assert again == [(early.digest, "anchored"), (private.digest, "anchored"), (standard.digest, "anchored")]
    # a digest in capitals, as people may type it: the command line reads it as the digest; the API, which gives
    # digests in lowercase only, takes them so only
    shouted = standard.digest.upper().replace("0X", "0x")
    expected = {"api": "INVALID_DIGEST", "cli": [(standard.digest, "anchored")]}[interface.name]
    assert attempt(lambda: interface.publish([shouted], token=world.regulator_token)) == expected

    # issuing again as public publishes a private certificate the registry already has; never makes it private
    record = world.record("JD2026-70004")
    first = interface.issue(record, token=world.token)
    assert (first.created, first.public) == (True, False)
    assert interface.issue(record, token=world.token, public=True) == Issued(first.digest, True, False)
    assert interface.issue(record, token=world.token) == Issued(first.digest, True, False)

    # a revoked standard stays published: verifiers of what it calibrated must see it revoked
    assert interface.revoke(early.digest, 1, token=world.token)["state"] == "pending"
    drain(world)
    assert interface.status(early.digest).view["lifecycle"]["state"] == "done"
    assert anonymous_bundle(interface.url, early.digest) == (200, None)
    assert interface.status(early.digest).view["public"] is True


def _revoked_token(world: LabWorld) -> str:
    token_id, token = world.core.issue_token("LAB", lab_id=world.lab_id, label="revoked")
    world.core.revoke_token(token_id)
    return token


def _suspended(world: LabWorld) -> str:
    world.chain.contracts.suspend_lab(world.province, from_hex(world.lab_id))
    return world.token


#: How each case is set up: the token a lab issues with.
ISSUING_CASES: dict[str, Callable[[LabWorld], str]] = {
    "no token": lambda _: "",
    "unknown token": lambda _: "tc_lab_nonsense",
    "revoked token": _revoked_token,
    "suspended lab": _suspended,
}


@pytest.mark.parametrize(
    ("interface", "case", "code", "status"),
    [
        ("api", "no token", "UNAUTHORIZED", 401),
        ("cli", "no token", "USAGE", 2),  # refused before anything is sent
        ("api", "unknown token", "UNAUTHORIZED", 401),
        ("cli", "unknown token", "UNAUTHORIZED", 1),
        ("api", "revoked token", "UNAUTHORIZED", 401),
        ("cli", "revoked token", "UNAUTHORIZED", 1),
        ("api", "suspended lab", "LAB_SUSPENDED", 403),
        ("cli", "suspended lab", "LAB_SUSPENDED", 1),
    ],
    indirect=["interface"],
)
def test_issuing_is_refused_alike(interface: Interface, world: LabWorld, case: str, code: str, status: int) -> None:
    token = ISSUING_CASES[case](world)
    refused = refusal(lambda: interface.issue(world.record("JD2026-80001"), token=token))
    assert (refused.code, refused.status) == (code, status), refused
    # and nothing was kept
    assert refusal(lambda: interface.find(LAB_CODE, "JD2026-80001")).code == "UNKNOWN_CERTIFICATE"
