"""A small HTTP client of the registry API (``/v1``), used by the ``tracecert`` command line, and how it retries
(:func:`with_retries`; :class:`Patience` while the registry cannot ask the chain).

Every answer that is not a success raises :class:`RegistryClientError` with the API's machine code, message and
details; a registry that cannot be reached raises :class:`RegistryUnreachable`. Exception tree (see
:mod:`registry.errors` for the whole registry's)::

    registry.errors.RegistryError
    └── RegistryClientError          code from the API's error body (or HTTP_<status>); ``status``, ``retry_after``
        └── RegistryUnreachable      REGISTRY_UNREACHABLE   connection refused, reset or timed out
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from registry.errors import RegistryError
from tracecert.certificate.canonical import parse_json

__all__ = [
    "DEFAULT_REGISTRY_URL",
    "Patience",
    "RegistryClient",
    "RegistryClientError",
    "RegistryUnreachable",
    "with_retries",
]

logger = logging.getLogger(__name__)

DEFAULT_REGISTRY_URL = "http://127.0.0.1:8000"


class RegistryClientError(RegistryError):
    """The registry refused a request: ``code`` (stable), ``message``, ``details``, the HTTP ``status`` and, on a
    503, the seconds its Retry-After asks to wait (``retry_after``, None without one)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: Any = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.status = status
        self.retry_after = retry_after


class RegistryUnreachable(RegistryClientError):
    """The registry did not answer (refused, reset, timed out)."""

    def __init__(self, message: str) -> None:
        super().__init__("REGISTRY_UNREACHABLE", message)


def _signature(signature: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if signature is None else {"key_id": signature["key_id"], "value": signature["value"]}


class RegistryClient:
    """The registry API as Python calls. ``token`` is a lab's or regulator's bearer token (optional for reads).

    Args:
        base_url: where the registry listens, e.g. ``http://127.0.0.1:8000``.
        token: the bearer token.
        timeout: seconds per request.
        transport: an httpx transport (tests pass ``httpx.ASGITransport(app)`` or a mock).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_REGISTRY_URL,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"cannot reach the registry at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return parse_json(self._request(method, path, **kwargs).content)

    # ------------------------------------------------------------------ issuing

    def issue(
        self, record: Mapping[str, Any], signature: Mapping[str, str] | None = None, *, public: bool = False
    ) -> dict[str, Any]:
        """``POST /v1/certificates`` with one record (and its signature in lab-signing mode); ``public`` publishes
        it (anyone may download its proof bundle), also when the registry had it already.

        Returns the answer with ``created`` (False when the registry had it already) and ``public``.
        """
        body: dict[str, Any] = {"record": dict(record)}
        if signature is not None:
            body["signature"] = _signature(signature)
        if public:
            body["public"] = True
        return dict(self._json("POST", "/v1/certificates", json=body))

    def issue_with_document(
        self,
        record: Mapping[str, Any],
        document: bytes,
        *,
        filename: str,
        media_type: str,
        signature: Mapping[str, str] | None = None,
        public: bool = False,
    ) -> dict[str, Any]:
        """``POST /v1/certificates`` as multipart: the record, its signature, the original document, and
        ``public`` (publish it)."""
        data = {"record": json.dumps(dict(record), ensure_ascii=False)}
        if signature is not None:
            data["signature"] = json.dumps(_signature(signature))
        if public:
            data["public"] = "true"
        files = {"document": (filename, document, media_type)}
        return dict(self._json("POST", "/v1/certificates", data=data, files=files))

    def issue_bulk(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``POST /v1/certificates/bulk``: ``items`` are ``{"record", "signature"?, "public"?}`` (at most the
        registry's limit).

        Returns ``{"accepted", "existing", "rejected", "results": [{"index", "ok", ...}]}``.
        """
        return dict(self._json("POST", "/v1/certificates/bulk", json={"certificates": [dict(i) for i in items]}))

    def revoke(self, digest: str, reason: int | str, effective_time: int | None = None) -> dict[str, Any]:
        """``POST /v1/certificates/{digest}/revoke`` (by the issuing lab or a regulator over it)."""
        body: dict[str, Any] = {"reason": reason}
        if effective_time is not None:
            body["effective_time"] = effective_time
        return dict(self._json("POST", f"/v1/certificates/{digest}/revoke", json=body))

    def publish(self, digest: str) -> dict[str, Any]:
        """``POST /v1/certificates/{digest}/publish`` (by the issuing lab or a regulator over it): anyone may then
        download its proof bundle. Returns the certificate's view."""
        return dict(self._json("POST", f"/v1/certificates/{quote(digest, safe='')}/publish"))

    # ------------------------------------------------------------------ reading

    def certificate(self, digest: str) -> dict[str, Any]:
        """``GET /v1/certificates/{digest}``."""
        return dict(self._json("GET", f"/v1/certificates/{digest}"))

    def certificate_by_number(self, lab_id: str, number: str) -> dict[str, Any]:
        """``GET /v1/labs/{lab_id}/certificates/{number}``."""
        return dict(self._json("GET", f"/v1/labs/{quote(lab_id, safe='')}/certificates/{quote(number, safe='')}"))

    def bundle(self, digest: str) -> dict[str, Any]:
        """``GET /v1/certificates/{digest}/bundle`` (the proof bundle; without a token, of published ones only)."""
        return dict(self._json("GET", f"/v1/certificates/{digest}/bundle"))

    def certificates(
        self,
        *,
        lab_id: str | None = None,
        status: str | None = None,
        cursor: int | str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/certificates`` with filters: ``{"items": [...], "next_cursor"}``."""
        params = {k: v for k, v in {"lab_id": lab_id, "status": status, "cursor": cursor, "limit": limit}.items() if v}
        return dict(self._json("GET", "/v1/certificates", params=params))

    def batch(self, root: str) -> dict[str, Any]:
        """``GET /v1/batches/{root}``: an anchored batch's public listing."""
        return dict(self._json("GET", f"/v1/batches/{root}"))

    def dependents(self, digest: str) -> dict[str, Any]:
        """``GET /v1/certificates/{digest}/dependents``: the downstream impact of a certificate."""
        return dict(self._json("GET", f"/v1/certificates/{digest}/dependents"))

    def dependents_csv(self, digest: str) -> bytes:
        """The same as a CSV export (UTF-8 with a BOM)."""
        return self._request("GET", f"/v1/certificates/{digest}/dependents", params={"format": "csv"}).content

    def fraud_signals(self, *, lab_id: str | None = None, cursor: int | None = None) -> dict[str, Any]:
        """``GET /v1/fraud-signals`` (a regulator's token): ``{"items": [...], "next_cursor"}``."""
        params = {k: v for k, v in {"lab_id": lab_id, "cursor": cursor}.items() if v is not None}
        return dict(self._json("GET", "/v1/fraud-signals", params=params))

    def anomalies(self, **filters: str | None) -> dict[str, Any]:
        """``GET /v1/anomalies`` (a regulator's token) with filters since, until, lab_id, code."""
        params = {k: v for k, v in filters.items() if v is not None}
        return dict(self._json("GET", "/v1/anomalies", params=params))

    def publish_draw(self, published: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/draws`` (a regulator's token): publish a draw it made; the registry re-runs it first."""
        return dict(self._json("POST", "/v1/draws", json=published))

    # ------------------------------------------------------------------ enterprises

    def register_enterprise(self, usci: str, name: str) -> dict[str, Any]:
        """``POST /v1/enterprises``: by itself (no token) or onboarded by a regulator: ``{enterprise, token}``."""
        return dict(self._json("POST", "/v1/enterprises", json={"usci": usci, "name": name}))

    def confirm_enterprise(self, usci: str) -> dict[str, Any]:
        """``POST /v1/enterprises/{usci}/confirm`` (a regulator over its region)."""
        return dict(self._json("POST", f"/v1/enterprises/{usci}/confirm"))

    def enterprises(self, state: str | None = None) -> dict[str, Any]:
        """``GET /v1/enterprises`` (a regulator): ``{"items": [...]}``."""
        return dict(self._json("GET", "/v1/enterprises", params={"state": state} if state else None))

    def register_instruments(self, content: bytes, media_type: str) -> dict[str, Any]:
        """``POST /v1/instruments`` with a register as JSON, CSV or Excel (all rows or none)."""
        return dict(self._json("POST", "/v1/instruments", content=content, headers={"Content-Type": media_type}))

    def instruments(self, usci: str | None = None) -> dict[str, Any]:
        """``GET /v1/instruments``: the register with each instrument's state and due date."""
        return dict(self._json("GET", "/v1/instruments", params={"usci": usci} if usci else None))

    def change_site(self, site_id: str, *, name: str | None = None, region: int | None = None) -> dict[str, Any]:
        """``PATCH /v1/sites/{site_id}`` (its owner): rename it or correct its region; the site as it is now."""
        body = {k: v for k, v in (("name", name), ("region", region)) if v is not None}
        return dict(self._json("PATCH", f"/v1/sites/{site_id}", json=body))

    def coverage(self, region: int, **params: Any) -> dict[str, Any]:
        """``GET /v1/coverage`` (a regulator over the region)."""
        query = {"region": region} | {k: v for k, v in params.items() if v is not None}
        return dict(self._json("GET", "/v1/coverage", params=query))

    def coverage_file(self, region: int, fmt: str, **params: Any) -> bytes:
        """The same as a file, with the overdue list: ``fmt`` csv or xlsx."""
        query = {"region": region, "format": fmt} | {k: v for k, v in params.items() if v is not None}
        return self._request("GET", "/v1/coverage", params=query).content

    def watch(self, digests: Sequence[str], note: str = "") -> dict[str, Any]:
        """``POST /v1/watches`` (an enterprise)."""
        return dict(self._json("POST", "/v1/watches", json={"digests": list(digests), "note": note}))

    def add_webhook(self, url: str) -> dict[str, Any]:
        """``POST /v1/webhooks`` (an enterprise)."""
        return dict(self._json("POST", "/v1/webhooks", json={"url": url}))

    def alerts(self, after: int = 0) -> dict[str, Any]:
        """``GET /v1/alerts?after=`` (an enterprise): its alerts after an id, oldest first."""
        return dict(self._json("GET", "/v1/alerts", params={"after": after}))

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return dict(self._json("GET", "/health"))


def _error(response: httpx.Response) -> RegistryClientError:
    try:
        body = parse_json(response.content)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    retry_after = _retry_after(response.headers.get("Retry-After"))
    if isinstance(error, dict) and "code" in error:
        return RegistryClientError(
            str(error["code"]),
            str(error.get("message", "")),
            details=error.get("details"),
            status=response.status_code,
            retry_after=retry_after,
        )
    text = response.text.strip()[:200] or response.reason_phrase
    status = response.status_code
    return RegistryClientError(f"HTTP_{status}", text, status=status, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delay form; an HTTP date is ignored)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86_400 else None


class Patience:
    """How long ``tracecert issue`` keeps retrying while the registry answers 503 (CHAIN_UNAVAILABLE: the chain
    could not be asked, nothing was accepted): waiting what Retry-After says (else 1, 2, 4... s, at most 30), for
    at most ``retry_for`` seconds from the first refusal; a success starts the count again. Retrying is safe:
    certificates already accepted are answered as existing."""

    def __init__(self, retry_for: float, say: Callable[[str], None] = logger.warning) -> None:
        """``say`` tells the user why it waits (the CLI prints to stderr)."""
        self.retry_for = retry_for
        self.say = say
        self._deadline: float | None = None
        self._backoff = 1.0

    def wait(self, code: str, message: str, retry_after: float | None, what: str) -> bool:
        """Say why and sleep before the next try; False (no sleep) once the bound is reached."""
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.retry_for
        left = self._deadline - now
        if left <= 0:
            return False
        delay = min(retry_after if retry_after is not None else self._backoff, left)
        self._backoff = min(self._backoff * 2, 30.0)
        self.say(f"registry: {code} ({message}); retrying {what} in {delay:g} s (for up to {self.retry_for:g} s)")
        time.sleep(delay)
        return True

    def reset(self) -> None:
        """A request went through: the next refusal gets the whole ``retry_for`` again."""
        self._deadline, self._backoff = None, 1.0

    def gave_up(self, code: str, status: int | None = 503) -> RegistryClientError:
        """The error to stop with once the bound is reached."""
        return RegistryClientError(
            code,
            f"the registry could not ask the chain for {self.retry_for:g} s, so the certificates not yet accepted "
            "were not sent (see the summary); it is safe to run again: those already accepted are answered as "
            "existing",
            status=status,
        )


def with_retries(call: Callable[[], Any], attempts: int = 4, *, patience: Patience | None = None) -> Any:
    """``call()``, retried when the registry is unreachable or answers 502/504 (``attempts`` times in all), and on
    503 as ``patience`` allows (without it, like the others).

    Raises:
        RegistryClientError: the last refusal, one that is not retried, or :meth:`Patience.gave_up`.
    """
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            result = call()
        except RegistryClientError as exc:
            if patience is not None and exc.status == 503:
                if patience.wait(exc.code, exc.message, exc.retry_after, "the request"):
                    continue
                raise patience.gave_up(exc.code) from exc
            retryable = isinstance(exc, RegistryUnreachable) or exc.status in (502, 503, 504)
            if not retryable or attempt >= attempts:
                raise
            time.sleep(delay)
            delay *= 2
            continue
        if patience is not None:
            patience.reset()
        return result
