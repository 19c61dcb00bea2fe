"""The verifier's fast lane (:class:`verifier.api.VerifierApp`) answers what the routes answer, byte for byte.

Each request of the table is sent twice to the same app, once in the lane and once through FastAPI's routes
(``fast_lane`` False, the reference): the status, every header in order and the body must be equal. The table
also says which requests the lane takes, and that is asserted too, so that a lane that quietly declined
everything could not pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.verifier.api.conftest import UNKNOWN, json_bytes
from tests.verifier.conftest import TraceWorld, tamper
from verifier.api import VerifierApp, create_app
from verifier.config import VerifierSettings

_JSON = {"content-type": "application/json"}

#: (name, method, path, headers, body from the chain of three, taken by the lane, status, the report's verdict or the
#: error's code; None for an answer of neither kind)
Case = tuple[str, str, str, dict[str, str], Callable[[Any], bytes] | None, bool, int, str | None]


def _leaf(c: Any) -> bytes:
    return json_bytes(c[2])


CASES: list[Case] = [
    ("a valid bundle", "POST", "/v1/verify", _JSON, _leaf, True, 200, "VALID"),
    ("a standard's bundle", "POST", "/v1/verify", _JSON, lambda c: json_bytes(c[0]), True, 200, "VALID"),
    (
        "a tampered bundle",
        "POST",
        "/v1/verify",
        _JSON,
        lambda c: json_bytes(tamper(c[2], "customer.name", "某公司")),
        True,
        200,
        "INVALID",
    ),
    ("a wrapped bundle", "POST", "/v1/verify", _JSON, lambda c: json_bytes({"bundle": c[2]}), True, 200, "VALID"),
    (
        "as_of before issue",
        "POST",
        "/v1/verify",
        _JSON,
        lambda c: json_bytes({"bundle": c[2], "as_of": "2020-01-01"}),
        True,
        200,
        "INVALID",
    ),
    ("a record", "POST", "/v1/verify", _JSON, lambda c: json_bytes({"record": c[2]["record"]}), True, 200, "VALID"),
    ("+json media", "POST", "/v1/verify", {"content-type": "application/ld+json"}, _leaf, True, 200, "VALID"),
    ("malformed JSON", "POST", "/v1/verify", _JSON, lambda c: b'{"format": ', True, 400, "MALFORMED_JSON"),
    ("JSON not an object", "POST", "/v1/verify", _JSON, lambda c: b"[1, 2]", True, 422, "REQUEST_INVALID"),
    ("duplicate members", "POST", "/v1/verify", _JSON, lambda c: b'{"a": 1, "a": 2}', True, 400, "MALFORMED_JSON"),
    ("not a bundle", "POST", "/v1/verify", _JSON, lambda c: b'{"format": "other"}', True, 200, "INVALID"),
    ("no content type", "POST", "/v1/verify", {}, _leaf, True, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("text/plain", "POST", "/v1/verify", {"content-type": "text/plain"}, _leaf, False, 415, "UNSUPPORTED_MEDIA_TYPE"),
    (
        "over the upload limit",
        "POST",
        "/v1/verify",
        _JSON,
        lambda c: b" " * (64 * 1024 + 1),
        True,
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    ("a query string", "POST", "/v1/verify?as_of=2020-01-01", _JSON, _leaf, False, 200, "INVALID"),
    ("an Origin", "POST", "/v1/verify", {**_JSON, "origin": "https://example.org"}, _leaf, False, 200, "VALID"),
    ("GET a known digest", "GET", "/v1/certificates/{leaf}/verification", {}, None, True, 200, "VALID"),
    ("GET an unknown digest", "GET", f"/v1/certificates/{UNKNOWN}/verification", {}, None, True, 200, "INVALID"),
    ("GET an invalid digest", "GET", "/v1/certificates/0x12/verification", {}, None, True, 422, "INVALID_DIGEST"),
    ("GET with as_of", "GET", "/v1/certificates/{leaf}/verification?as_of=2020-01-01", {}, None, False, 200, "INVALID"),
    ("GET a trailing slash", "GET", "/v1/certificates/{leaf}/verification/", {}, None, False, 307, None),
    ("GET the trace", "GET", "/v1/trace/{leaf}", {}, None, False, 200, None),
    ("PUT /v1/verify", "PUT", "/v1/verify", _JSON, lambda c: b"{}", False, 405, "METHOD_NOT_ALLOWED"),
]


def _scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    route, _, query = path.partition("?")
    return {
        "type": "http",
        "method": method,
        "path": route,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }


def _send(client: TestClient, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Any:
    return client.request(method, path, headers=headers, content=body, follow_redirects=False)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "in_lane", "status", "answer"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_lane_answers_what_the_routes_answer(
    api: TestClient,
    chain3: Any,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Callable[[Any], bytes] | None,
    in_lane: bool,
    status: int,
    answer: str | None,
) -> None:
    app = api.app
    assert isinstance(app, VerifierApp)
    path = path.format(leaf=chain3[2]["digest"])
    content = body(chain3) if body else None
    assert (app.lane_route(_scope(method, path, headers)) is not None) is in_lane
    try:
        fast = _send(api, method, path, headers, content)
        app.fast_lane = False
        reference = _send(api, method, path, headers, content)
    finally:
        app.fast_lane = True
    assert reference.status_code == status, reference.text
    assert (fast.status_code, fast.headers.multi_items(), fast.content) == (
        reference.status_code,
        reference.headers.multi_items(),
        reference.content,
    )
    if answer is not None:
        got = reference.json()
        assert (got["error"]["code"] if status >= 400 else got["verdict"]) == answer


def test_the_lane_refuses_what_the_rate_limit_refuses(world: TraceWorld, chain3: Any) -> None:
    """A second upload from one address within a bucket of one: 429 RATE_LIMITED with its Retry-After, both ways."""
    answers = []
    for fast in (True, False):
        settings = VerifierSettings(max_upload_bytes=64 * 1024, rate_limit_per_minute=1, rate_limit_burst=1)
        app = create_app(settings, verifier=world.verifier)
        app.fast_lane = fast
        with TestClient(app) as client:
            first = client.post("/v1/verify", content=json_bytes(chain3[2]), headers=_JSON)
            second = client.post("/v1/verify", content=json_bytes(chain3[2]), headers=_JSON)
        assert first.status_code == 200 and second.status_code == 429
        answers.append((second.headers.multi_items(), second.content))
    assert answers[0] == answers[1]
    assert json.loads(answers[0][1])["error"]["code"] == "RATE_LIMITED"
