"""The verifier's HTTP API refusing: every error a precise code (the table), uploads rate limited per client, no
chain answered 503, and verifications run at most so many at once."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from tests.verifier.api.conftest import UNKNOWN
from tests.verifier.conftest import TraceWorld
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from verifier.api import TokenBucket, VerifierService, create_app
from verifier.config import VerifierSettings

# ---------------------------------------------------------------------------------------------------- errors


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 8192):
        yield data[i : i + 8192]


BIG = b'{"x": "' + b"a" * 100_000 + b'"}'
BUNDLE = "__bundle__"  # replaced by the valid leaf bundle

ERRORS: list[tuple[str, str, dict[str, Any], int, str]] = [
    # not JSON at all
    (
        "POST",
        "/v1/verify",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "MALFORMED_JSON",
    ),
    # duplicate keys are refused (a second "digest" could hide the first)
    (
        "POST",
        "/v1/verify",
        {"content": b'{"a": 1, "a": 2}', "headers": {"content-type": "application/json"}},
        400,
        "MALFORMED_JSON",
    ),
    # a bundle file in a form that is not JSON
    ("POST", "/v1/verify", {"files": {"bundle": ("b.json", b"{oops", "application/json")}}, 400, "MALFORMED_JSON"),
    # a broken multipart body
    (
        "POST",
        "/v1/verify",
        {"content": b"garbage", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        400,
        "MALFORMED_MULTIPART",
    ),
    # plain text
    (
        "POST",
        "/v1/verify",
        {"content": b"hello", "headers": {"content-type": "text/plain"}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    # no Content-Type
    ("POST", "/v1/verify", {"content": b"{}"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    # an uploaded file that is neither JSON, PDF nor XML
    (
        "POST",
        "/v1/verify",
        {"files": {"file": ("notes.txt", b"just text", "text/plain")}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    # a "document" part that is JSON
    (
        "POST",
        "/v1/verify",
        {"files": {"document": ("d.json", b"{}", "application/json")}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    # over the upload limit, declared by Content-Length
    ("POST", "/v1/verify", {"content": BIG, "headers": {"content-type": "application/json"}}, 413, "PAYLOAD_TOO_LARGE"),
    # over the upload limit, streamed without a length
    (
        "POST",
        "/v1/verify",
        {"content": "__stream__", "headers": {"content-type": "application/json"}},
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    # JSON, but an array
    ("POST", "/v1/verify", {"json": [1, 2]}, 422, "REQUEST_INVALID"),
    # JSON object of no known shape
    ("POST", "/v1/verify", {"json": {"hello": "world"}}, 422, "REQUEST_INVALID"),
    # an envelope with an unknown field
    ("POST", "/v1/verify", {"json": {"bundle": BUNDLE, "extra": 1}}, 422, "REQUEST_INVALID"),
    # a bad as_of in the envelope
    ("POST", "/v1/verify", {"json": {"bundle": BUNDLE, "as_of": "yesterday"}}, 422, "INVALID_AS_OF"),
    # a bad expected kind in the query
    ("POST", "/v1/verify?expected_kind=banana", {"json": BUNDLE}, 422, "INVALID_KIND"),
    # a form without a file
    (
        "POST",
        "/v1/verify",
        {"data": {"as_of": "2026-01-01"}, "files": {"unused": ("", b"", "text/plain")}},
        422,
        "REQUEST_INVALID",
    ),
    # two bundles in one form
    (
        "POST",
        "/v1/verify",
        {"files": [("file", ("a.json", b"{}", "application/json")), ("file", ("b.json", b"{}", "application/json"))]},
        422,
        "REQUEST_INVALID",
    ),
    # a digest that is too short
    ("GET", "/v1/certificates/0x1234/verification", {}, 422, "INVALID_DIGEST"),
    # not hex
    ("GET", f"/v1/certificates/0x{'zz' * 32}/verification", {}, 422, "INVALID_DIGEST"),
    # a bad as_of in the query
    ("GET", f"/v1/certificates/{UNKNOWN}/verification?as_of=13/13/2026", {}, 422, "INVALID_AS_OF"),
    # a lab id that is hex but too short
    ("GET", "/v1/labs/0x12/certificates/A-1/verification", {}, 422, "INVALID_LAB_ID"),
    # a digest the verifier has never seen: no tree to draw
    ("GET", f"/v1/trace/{UNKNOWN}", {}, 404, "NOT_FOUND"),
    ("GET", "/v1/trace/0x12", {}, 422, "INVALID_DIGEST"),
    # no such route
    ("GET", "/v1/nowhere", {}, 404, "NOT_FOUND"),
    # wrong method
    ("DELETE", "/v1/verify", {}, 405, "METHOD_NOT_ALLOWED"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"), ERRORS, ids=[f"{e[3]}-{e[4]}-{i}" for i, e in enumerate(ERRORS)]
)
def test_errors(
    api: TestClient, chain3: Any, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    kwargs = copy.deepcopy(kwargs)
    if kwargs.get("json") == BUNDLE:
        kwargs["json"] = chain3[2]
    elif isinstance(kwargs.get("json"), dict) and kwargs["json"].get("bundle") == BUNDLE:
        kwargs["json"]["bundle"] = chain3[2]
    if kwargs.get("content") == "__stream__":
        kwargs["content"] = _chunks(BIG)
    if isinstance(kwargs.get("files"), dict) and "unused" in kwargs["files"]:
        del kwargs["files"]
        kwargs["headers"] = {"content-type": "multipart/form-data; boundary=b"}
        kwargs["content"] = b'--b\r\nContent-Disposition: form-data; name="as_of"\r\n\r\n2026-01-01\r\n--b--\r\n'
        del kwargs["data"]
    r = api.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


# ---------------------------------------------------------------------------------------------------- rate limit


def test_uploads_are_rate_limited_per_client(world: TraceWorld, chain3: Any) -> None:
    settings = VerifierSettings(rate_limit_per_minute=6, rate_limit_burst=2, trust_forwarded_for=True)
    with TestClient(create_app(settings, verifier=world.verifier)) as client:
        leaf = chain3[2]
        for _ in range(2):
            assert client.post("/v1/verify", json=leaf).status_code == 200
        r = client.post("/v1/verify", json=leaf)
        assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(r.headers["retry-after"]) <= 10
        # Another client address has its own bucket; reads are not counted.
        other = client.post("/v1/verify", json=leaf, headers={"x-forwarded-for": "203.0.113.7"})
        assert other.status_code == 200
        assert client.get(f"/v1/certificates/{leaf['digest']}/verification").status_code == 200


def test_forwarded_for_is_ignored_unless_trusted(world: TraceWorld, chain3: Any) -> None:
    settings = VerifierSettings(rate_limit_per_minute=1, rate_limit_burst=1)
    with TestClient(create_app(settings, verifier=world.verifier)) as client:
        assert client.post("/v1/verify", json=chain3[2]).status_code == 200
        spoofed = client.post("/v1/verify", json=chain3[2], headers={"x-forwarded-for": "198.51.100.1"})
        assert spoofed.status_code == 429


def test_token_bucket_refills() -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=60, burst=2, clock=lambda: now[0], max_keys=2)
    assert bucket.take("a") == 0 and bucket.take("a") == 0
    assert bucket.take("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert bucket.take("a") == 0
    bucket.take("b")
    bucket.take("c")  # "a" is forgotten beyond max_keys: it starts full again
    assert bucket.take("a") == 0 and bucket.take("a") == 0


def test_no_chain_is_503(tmp_path: Path) -> None:
    settings = VerifierSettings(rpc_url=None, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        r = client.get(f"/v1/certificates/{UNKNOWN}/verification")
        assert r.status_code == 503 and r.json()["error"]["code"] == "NO_RPC_URL"
        assert r.headers["retry-after"]
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert client.get("/").status_code == 200  # the page is served all the same
    down = VerifierSettings(rpc_url="http://127.0.0.1:9", data_dir=tmp_path, deployment_file=tmp_path / "d.json")
    with TestClient(create_app(down)) as client:
        r = client.get(f"/v1/certificates/{UNKNOWN}/verification")
        assert r.status_code == 503 and r.json()["error"]["code"] in ("CHAIN_UNAVAILABLE", "NO_DEPLOYMENT")


class _NotALiveNode:
    """Stands for the verifier's index: any chain view that is not a live node."""


@pytest.mark.parametrize(
    ("setting", "view", "registries", "expected"),
    [
        (None, "index", [], 2),
        (None, "index", ["http://registry.test"], 8),
        (None, "live", [], 16),
        (None, None, [], 16),  # not built yet
        (3, "index", [], 3),
        (1, "live", [], 1),
    ],
    ids=["index", "index-remote-sources", "live", "unbuilt", "set-index", "set-live"],
)
def test_verification_threads_by_chain_view(
    setting: int | None, view: str | None, registries: list[str], expected: int
) -> None:
    chain: Any = {"index": _NotALiveNode(), "live": LiveChainView.__new__(LiveChainView), None: None}[view]
    verifier = Verifier(chain) if chain is not None else None
    service = VerifierService(VerifierSettings(verify_threads=setting, registry_urls=registries), verifier)
    assert service.verify_threads() == expected


def test_verifications_run_at_most_verify_threads_at_once() -> None:
    service = VerifierService(VerifierSettings(verify_threads=2), Verifier(_NotALiveNode()))  # type: ignore[arg-type]
    running, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    async def burst() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(12):
                group.start_soon(service.run, work)

    anyio.run(burst)
    assert peak[0] == 2


@pytest.mark.parametrize(
    ("setting", "view", "registries", "light", "in_loop"),
    [
        (None, "index", [], True, True),  # only this machine read: no thread hand-off
        (None, "index", [], False, False),  # a document to read: a thread
        (None, "index", ["http://registry.test"], True, False),  # registries asked over the network: a thread
        (None, "live", [], True, False),  # a live node's round trips: a thread
        (None, None, [], True, False),  # not built yet (building may take long): a thread
        (2, "index", [], True, False),  # threads set by the operator: threads
    ],
    ids=["index-light", "index-document", "index-remote-sources", "live", "unbuilt", "threads-set"],
)
def test_light_verifications_run_in_the_event_loop_only_when_they_read_this_machine(
    setting: int | None, view: str | None, registries: list[str], light: bool, in_loop: bool
) -> None:
    chain: Any = {"index": _NotALiveNode(), "live": LiveChainView.__new__(LiveChainView), None: None}[view]
    verifier = Verifier(chain) if chain is not None else None
    service = VerifierService(VerifierSettings(verify_threads=setting, registry_urls=registries), verifier)
    seen: dict[str, int] = {}

    async def main() -> None:
        seen["loop"] = threading.get_ident()
        seen["work"] = await service.run(threading.get_ident, light=light)

    anyio.run(main)
    assert (seen["work"] == seen["loop"]) is in_loop
