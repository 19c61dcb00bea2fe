"""Watchlists and alerts: an enterprise hears when a certificate it relies on changes.

**What it watches.** The certificates of its registered instruments (linked as :func:`registry.coverage.links`
says), and the certificates it names (:func:`add_watches`: a supplier's, a standard's), each with everything it
depends on upstream: a revoked standard's certificate reaches every certificate citing it, transitively
(:func:`registry.impact.dependents_of`).

**What it hears.** ``CERTIFICATE_REVOKED``, ``CERTIFICATE_SUBSTITUTED`` and ``STANDARD_REVOKED`` when a revocation or
substitution is on chain; ``CERTIFICATE_EXPIRING`` when a watched certificate (one keeping an instrument in force,
or a named one) expires within ``alert_expiry_days``; ``LAB_SUSPENDED`` and ``LAB_SANCTIONED`` when the chain
shows the issuing lab suspended, or a sanction recorded against it after the watch began.

**Once per event.** The producer (:class:`registry.alerting.AlertProducer`, run by the anchoring worker) keeps
one alert per (enterprise, event key), written with its deliveries in one transaction.

**Delivered durably.** Each alert is in the enterprise's feed (:func:`feed`, polled with ``after``) and, for each
of its webhooks, a delivery in the outbox, posted by :class:`registry.alerting.AlertSender` with exponential
backoff until a 2xx answer (or ``webhook_max_attempts``). Delivery is at least once: a sender killed after the
receiver took a post but before it recorded the answer posts it again after a restart, with the same
``TraceCert-Alert-Id`` — the receiver keeps one per id.

**Signed.** Every post carries ``TraceCert-Signature: ed25519=<hex>``, the Ed25519 signature of
SHA-256(``tracecert-alert/1.<alert id>.<timestamp>.<body>``) with the registry's alert key, whose public half
anyone reads at ``GET /v1/alerts/key`` (:func:`verify_delivery` checks it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import nacl.exceptions
import nacl.signing
from sqlalchemy import select

from registry.core import Principal, RegistryCore
from registry.db import Certificate, HeldKey, utcnow
from registry.db_enterprises import AlertRow, Delivery, DeliveryState, Watch, Webhook
from registry.enterprises import confirmed_enterprise
from registry.errors import Forbidden, InvalidRequest, NotFound
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.signing import SigningKey
from tracecert.human import local_time

__all__ = [
    "KINDS",
    "RELATIONS",
    "add_watches",
    "add_webhook",
    "alert_body",
    "alert_key",
    "feed",
    "key_view",
    "list_watches",
    "list_webhooks",
    "public_address",
    "remove_watch",
    "remove_webhook",
    "sign_delivery",
    "verify_delivery",
]


#: Every alert's type with its names (zh, en).
KINDS: dict[str, tuple[str, str]] = {
    "CERTIFICATE_REVOKED": ("证书已被撤销", "certificate revoked"),
    "CERTIFICATE_SUBSTITUTED": ("证书已被替换", "certificate substituted"),
    "STANDARD_REVOKED": ("所依赖的计量标准证书已被撤销", "a standard's certificate it depends on was revoked"),
    "CERTIFICATE_EXPIRING": ("证书即将到期", "certificate expiring"),
    "LAB_SUSPENDED": ("出具机构已被暂停", "the issuing lab was suspended"),
    "LAB_SANCTIONED": ("出具机构受到信用惩戒", "the issuing lab was sanctioned"),
}
#: How an affected certificate concerns the enterprise (zh, en).
RELATIONS: dict[str, tuple[str, str]] = {
    "WATCHED": ("关注的证书", "a certificate it watches"),
    "INSTRUMENT": ("本单位器具的证书", "a certificate of its instrument"),
}
MAX_WATCHES = 10_000
MAX_WEBHOOKS = 5


# ---------------------------------------------------------------------------------------------- signing


def alert_key(core: RegistryCore) -> SigningKey:
    """The registry's Ed25519 key for signing alerts, held sealed like the labs' keys; made on first use (two
    processes making one at once both end up using the older)."""
    with core.sessions() as s:
        row = s.scalar(select(HeldKey).where(HeldKey.kind == "ALERTS").order_by(HeldKey.created_at, HeldKey.id))
    if row is None:
        core.new_held_key("ALERTS")
        return alert_key(core)
    return core.custody.open_signing_key(row.id, row.sealed)


def key_view(core: RegistryCore) -> dict[str, str]:
    """The alert key's public half, as receivers fetch it to verify posts."""
    key = alert_key(core)
    return {"algorithm": "Ed25519", "key_id": to_hex(key.key_id), "public_key": to_hex(key.public_key)}


def _signed_digest(alert_id: int, timestamp: int, body: bytes) -> bytes:
    """What the alert key signs: SHA-256 of ``tracecert-alert/1.<alert id>.<timestamp>.<body>`` (the key signs
    32-byte digests only, each kind with its own prefix)."""
    return hashlib.sha256(f"tracecert-alert/1.{alert_id}.{timestamp}.".encode() + body).digest()


def sign_delivery(key: SigningKey, alert_id: int, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers of a post of alert ``alert_id`` with ``body``."""
    when = int(time.time()) if timestamp is None else timestamp
    signature = key.sign(_signed_digest(alert_id, when, body))
    return {
        "Content-Type": "application/json",
        "TraceCert-Alert-Id": str(alert_id),
        "TraceCert-Timestamp": str(when),
        "TraceCert-Key-Id": to_hex(key.key_id),
        "TraceCert-Signature": "ed25519=" + signature.hex(),
    }


def verify_delivery(public_key: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether a post's signature verifies with the alert key ``public_key`` (0x-hex, from /v1/alerts/key)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        alert_id = int(lowered["tracecert-alert-id"])
        timestamp = int(lowered["tracecert-timestamp"])
        scheme, _, value = lowered["tracecert-signature"].partition("=")
        if scheme != "ed25519":
            return False
        nacl.signing.VerifyKey(from_hex(public_key)).verify(
            _signed_digest(alert_id, timestamp, body), bytes.fromhex(value)
        )
    except (KeyError, ValueError, nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
        return False
    return True


# ---------------------------------------------------------------------------------------------- watches, webhooks


def add_watches(core: RegistryCore, principal: Principal, digests: Iterable[str], note: str = "") -> dict[str, Any]:
    """Watch certificates by digest (idempotent). A digest the registry does not hold is refused: an alert can
    only come for what it anchors.

    Raises:
        Forbidden: NOT_AN_ENTERPRISE, ENTERPRISE_NOT_CONFIRMED. InvalidRequest: UNKNOWN_CERTIFICATE (each named),
        TOO_MANY_WATCHES.
    """
    usci = confirmed_enterprise(core, principal)
    wanted = sorted({d.lower() for d in digests})
    with core.sessions.begin() as s:
        known = set(s.scalars(select(Certificate.digest).where(Certificate.digest.in_(wanted))))
        unknown = [d for d in wanted if d not in known]
        if unknown:
            raise InvalidRequest(
                f"{len(unknown)} certificate(s) this registry does not hold",
                code="UNKNOWN_CERTIFICATE",
                details=[{"field": "digests", "rule": "known", "message": d} for d in unknown[:100]],
            )
        have = set(s.scalars(select(Watch.digest).where(Watch.usci == usci)))
        new = [d for d in wanted if d not in have]
        if len(have) + len(new) > MAX_WATCHES:
            raise InvalidRequest(f"an enterprise watches at most {MAX_WATCHES} certificates", code="TOO_MANY_WATCHES")
        for d in new:
            s.add(Watch(usci=usci, digest=d, note=note[:256], created_at=utcnow()))
    return {"usci": usci, "added": len(new), "watching": len(have) + len(new)}


def list_watches(core: RegistryCore, principal: Principal) -> dict[str, Any]:
    """The certificates the calling enterprise watches by name, with their numbers and validity."""
    usci = _enterprise(principal)
    with core.sessions() as s:
        rows = s.execute(
            select(Watch, Certificate.certificate_number, Certificate.valid_until, Certificate.status)
            .join(Certificate, Certificate.digest == Watch.digest)
            .where(Watch.usci == usci)
            .order_by(Watch.id)
        ).all()
    return {
        "usci": usci,
        "items": [
            {
                "digest": w.digest,
                "note": w.note,
                "certificate_number": number,
                "valid_until": until,
                "status": status,
                "since": local_time(w.created_at),
            }
            for w, number, until, status in rows
        ],
    }


def remove_watch(core: RegistryCore, principal: Principal, digest: str) -> None:
    """Stop watching a certificate (NOT_WATCHED if it was not)."""
    usci = _enterprise(principal)
    with core.sessions.begin() as s:
        row = s.scalar(select(Watch).where(Watch.usci == usci, Watch.digest == digest.lower()))
        if row is None:
            raise NotFound(f"{digest} is not watched", code="NOT_WATCHED")
        s.delete(row)


def _enterprise(principal: Principal) -> str:
    if principal.role != "ENTERPRISE" or principal.usci is None:
        raise Forbidden("watchlists and alerts are an enterprise's", code="NOT_AN_ENTERPRISE")
    return principal.usci


def public_address(host: str) -> bool:
    """Whether every address ``host`` resolves to is a public one (no loopback, private, link-local…)."""
    return _resolve_public(host) is not None


def _resolve_public(host: str) -> str | None:
    """One address of ``host`` when every address it resolves to now is public; else None."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # not resolved, or not a name DNS can carry (an empty or too long label)
        return None
    addresses = [ipaddress.ip_address(str(info[4][0])) for info in infos]
    if not addresses or not all(a.is_global for a in addresses):
        return None
    return str(addresses[0])


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Connects to a host only at an address it checked to be public, resolved once for that very connection: a
    name that answers a public address to the check and a private one to the connection (DNS rebinding) cannot
    reach inside. TLS still checks the certificate against the host's name (httpcore's ``server_hostname``)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = _resolve_public(host)
        if address is None:
            raise httpcore.ConnectError(f"{host} resolves to a non-public address")
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


def webhook_client(allow_private: bool, timeout: float) -> httpx.Client:
    """The client webhooks are posted with: no redirects, and (unless ``allow_private``) connections only to
    public addresses, checked at connect time (:class:`_PublicOnlyBackend`)."""
    transport = httpx.HTTPTransport()
    if not allow_private:
        # httpx takes no network backend; its transport's pool is swapped for one with ours (tests/registry/
        # test_alerts.py shows a rebinding name refused by it).
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_PublicOnlyBackend()
        )
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)


def _check_url(core: RegistryCore, url: str) -> None:
    try:
        parts = urlsplit(url)
        if parts.hostname:
            parts.hostname.encode("idna")  # an empty or too long label: no name DNS can carry
    except ValueError:  # an unclosed IPv6 bracket; UnicodeError (idna) is one too
        raise InvalidRequest("a webhook is an http(s) URL", code="WEBHOOK_URL_INVALID") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2048:
        raise InvalidRequest("a webhook is an http(s) URL", code="WEBHOOK_URL_INVALID")
    if parts.username or parts.password:
        raise InvalidRequest("a webhook URL carries no credentials", code="WEBHOOK_URL_INVALID")
    if not core.settings.webhook_allow_private and not public_address(parts.hostname):
        raise InvalidRequest(
            "the webhook's host is not a public address (loopback, private and link-local ones are refused)",
            code="WEBHOOK_URL_PRIVATE",
        )


def add_webhook(core: RegistryCore, principal: Principal, url: str) -> dict[str, Any]:
    """Add a webhook (an enterprise has at most :data:`MAX_WEBHOOKS`); alerts from now on are posted to it.

    Raises:
        InvalidRequest: WEBHOOK_URL_INVALID, WEBHOOK_URL_PRIVATE, TOO_MANY_WEBHOOKS.
    """
    usci = confirmed_enterprise(core, principal)
    _check_url(core, url)
    with core.sessions.begin() as s:
        active = list(s.scalars(select(Webhook).where(Webhook.usci == usci, Webhook.active.is_(True))))
        same = next((w for w in active if w.url == url), None)
        if same is not None:
            return _webhook_view(same)
        if len(active) >= MAX_WEBHOOKS:
            raise InvalidRequest(f"an enterprise has at most {MAX_WEBHOOKS} webhooks", code="TOO_MANY_WEBHOOKS")
        row = Webhook(usci=usci, url=url, active=True, created_at=utcnow())
        s.add(row)
        s.flush()
        return _webhook_view(row)


def _webhook_view(row: Webhook) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "active": row.active, "created_at": local_time(row.created_at)}


def list_webhooks(core: RegistryCore, principal: Principal) -> dict[str, Any]:
    """The calling enterprise's webhooks."""
    usci = _enterprise(principal)
    with core.sessions() as s:
        rows = list(s.scalars(select(Webhook).where(Webhook.usci == usci, Webhook.active.is_(True))))
    return {"items": [_webhook_view(w) for w in rows]}


def remove_webhook(core: RegistryCore, principal: Principal, webhook_id: int) -> None:
    """Stop posting to a webhook (its pending deliveries are given up)."""
    usci = _enterprise(principal)
    with core.sessions.begin() as s:
        row = s.get(Webhook, webhook_id)
        if row is None or row.usci != usci or not row.active:
            raise NotFound(f"no webhook {webhook_id}", code="UNKNOWN_WEBHOOK")
        row.active = False
        for d in s.scalars(select(Delivery).where(Delivery.webhook_id == webhook_id, Delivery.state == "PENDING")):
            d.state, d.last_error = DeliveryState.FAILED, "webhook removed"


def feed(core: RegistryCore, principal: Principal, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """The calling enterprise's alerts after id ``after``, oldest first, each with its deliveries' states; poll
    with the last id seen."""
    usci = _enterprise(principal)
    with core.sessions() as s:
        rows = list(
            s.scalars(
                select(AlertRow).where(AlertRow.usci == usci, AlertRow.id > after).order_by(AlertRow.id).limit(limit)
            )
        )
        states: dict[int, list[str]] = defaultdict(list)
        if rows:
            for alert_id, state in s.execute(
                select(Delivery.alert_id, Delivery.state).where(Delivery.alert_id.in_([r.id for r in rows]))
            ):
                states[alert_id].append(state)
    items = [alert_body(r) | {"deliveries": sorted(states.get(r.id, []))} for r in rows]
    return {"usci": usci, "items": items, "last_id": rows[-1].id if rows else after}


def alert_body(row: AlertRow) -> dict[str, Any]:
    """An alert as posted and listed."""
    return {"id": row.id, "created_at": local_time(row.created_at)} | row.payload
