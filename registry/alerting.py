"""Producing and sending alerts (:mod:`registry.alerts` says what enterprises watch and hear).

The producer (:class:`AlertProducer`, run by the anchoring worker after each step) derives alerts from what the
database and the chain hold, not from a call made at the moment: a revocation is alerted when its operation is DONE
and not yet ``alerted_at``; the alerts, their deliveries and the mark are written in one transaction; an alert is
kept once per (enterprise, event key), so a producer killed and restarted adds nothing twice.

The sender (:class:`AlertSender`, a thread of the worker's process, one per database like the worker) posts the
outbox's due deliveries, signed, with exponential backoff; at least once, the same ``TraceCert-Alert-Id`` each time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.alerts import KINDS, RELATIONS, alert_body, alert_key, public_address, sign_delivery, webhook_client
from registry.core import RegistryCore
from registry.coverage import LINK
from registry.db import Certificate, CertificateStatus, LifecycleOp, OperationKind, OperationState, utcnow
from registry.db_enterprises import AlertMark, AlertRow, Delivery, DeliveryState, Instrument, Watch, Webhook
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.signing import SigningKey
from tracecert.chain.errors import ChainError
from tracecert.chain.types import LabStatus, RevocationReason, SanctionKind
from tracecert.human import CHINA_HOURS, local_time

__all__ = ["AlertProducer", "AlertSender"]

logger = logging.getLogger(__name__)
_CHINA = dt.timezone(dt.timedelta(hours=CHINA_HOURS))
_CHUNK = 500


# ---------------------------------------------------------------------------------------------- the producer


def _emit(s: Session, usci: str, key: str, kind: str, payload: dict[str, Any]) -> bool:
    """Keep one alert (once per key) with a delivery for each of the enterprise's webhooks; whether it is new."""
    if s.scalar(select(AlertRow.id).where(AlertRow.usci == usci, AlertRow.key == key)) is not None:
        return False
    row = AlertRow(
        usci=usci,
        key=key,
        kind=kind,
        payload={"type": kind, "type_name": {"zh": KINDS[kind][0], "en": KINDS[kind][1]}, "enterprise": usci} | payload,
        created_at=utcnow(),
    )
    s.add(row)
    s.flush()
    for hook in s.scalars(select(Webhook.id).where(Webhook.usci == usci, Webhook.active.is_(True))):
        s.add(
            Delivery(
                alert_id=row.id, webhook_id=hook, state=DeliveryState.PENDING, attempts=0, next_attempt_at=utcnow()
            )
        )
    return True


def _certificate_ref(row: Any) -> dict[str, Any]:
    return {
        "digest": row.digest,
        "certificate_number": row.certificate_number,
        "lab_id": row.lab_id,
        "valid_until": row.valid_until,
    }


_COLUMNS = (Certificate.digest, Certificate.certificate_number, Certificate.lab_id, Certificate.valid_until)


def _watched(s: Session, *where: Any) -> dict[str, list[dict[str, Any]]]:
    """The watched certificates that meet ``where``, per enterprise watching them, each with how it is watched: by
    name (WATCHED) or as a certificate of its registered instrument (INSTRUMENT). Starts from the watchers, so its
    cost follows what is watched, not the size of the ledger."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    named = select(Watch.usci, *_COLUMNS).join(Certificate, Certificate.digest == Watch.digest).where(*where)
    for row in s.execute(named):
        out[row.usci].append(_certificate_ref(row) | {"depth": 0} | _relation("WATCHED"))
    linked = select(Instrument.usci, Instrument.id.label("instrument_id"), *_COLUMNS).join(Certificate, LINK)
    for link in s.execute(linked.where(*where)):
        out[link.usci].append(
            _certificate_ref(link) | {"depth": 0} | _relation("INSTRUMENT") | {"instrument_id": link.instrument_id}
        )
    return out


def _watchers(s: Session, digests: Mapping[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """For the certificates ``digests`` (each with what to say about it: its depth below the event), who watches
    them and how; per enterprise."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    wanted = list(digests)
    for i in range(0, len(wanted), _CHUNK):
        for usci, items in _watched(s, Certificate.digest.in_(wanted[i : i + _CHUNK])).items():
            out[usci].extend(item | digests[item["digest"]] for item in items)
    return out


def _moment(unix: int) -> str:
    """A Unix time in China as alerts say it; one after the year 9999 (any the chain takes) as a number."""
    try:
        return dt.datetime.fromtimestamp(unix, _CHINA).strftime("%Y-%m-%d %H:%M (UTC+8)")
    except (OverflowError, ValueError, OSError):
        return f"Unix time {unix}"


def _relation(code: str) -> dict[str, Any]:
    return {"relation": code, "relation_name": {"zh": RELATIONS[code][0], "en": RELATIONS[code][1]}}


class AlertProducer:
    """Derives alerts from the database and the chain (run by the anchoring worker after each step)."""

    def __init__(self, core: RegistryCore) -> None:
        self.core = core
        self._next_scan = 0.0

    def run(self, *, force: bool = False) -> int:
        """Alert what is new; return how many alerts were made."""
        made = self._lifecycle()
        if force or time.monotonic() >= self._next_scan:
            self._next_scan = time.monotonic() + self.core.settings.alert_scan_interval_seconds
            made += self._expiring() + self._labs()
        return made

    # -- revocations and substitutions

    def _lifecycle(self) -> int:
        from registry.impact import dependents_of

        made = 0
        with self.core.sessions() as s:
            ops = list(
                s.scalars(
                    select(LifecycleOp)
                    .where(LifecycleOp.state == OperationState.DONE, LifecycleOp.alerted_at.is_(None))
                    .order_by(LifecycleOp.id)
                    .limit(50)
                )
            )
        for op in ops:
            with self.core.sessions.begin() as s:
                cert = s.scalar(select(Certificate).where(Certificate.digest == op.digest))
                own = KINDS_OF_OP[op.op]
                effective = op.effective_time or op.block_timestamp or 0
                event: dict[str, Any] = {
                    "certificate": _certificate_ref(cert) if cert else {"digest": op.digest},
                    "effective": _moment(effective) if effective else None,
                }
                if op.op == OperationKind.REVOKE:
                    reason = RevocationReason(op.reason)
                    event["reason"] = {"code": reason.name, "zh": reason.zh, "en": reason.en}
                else:
                    event["replaced_by"] = op.new_digest
                affected: dict[str, dict[str, Any]] = {}
                if cert is not None:
                    affected[cert.digest] = _certificate_ref(cert) | {"depth": 0}
                if op.op == OperationKind.REVOKE:
                    for d in dependents_of(self.core, op.digest):
                        if d.in_force:
                            affected[d.digest] = {
                                "digest": d.digest,
                                "certificate_number": d.certificate_number,
                                "lab_id": d.lab_id,
                                "valid_until": d.valid_until,
                                "depth": d.depth,
                            }
                for usci, items in _watchers(s, affected).items():
                    direct = any(i["depth"] == 0 for i in items)
                    kind = own if direct else "STANDARD_REVOKED"
                    made += _emit(s, usci, f"{op.op}:{op.digest}", kind, {"event": event, "affected": items})
                row = s.get(LifecycleOp, op.id)
                assert row is not None
                row.alerted_at = utcnow()
        return made

    # -- expiry

    def _expiring(self) -> int:
        from registry.coverage import today

        try:
            day = today(self.core)
        except Exception:  # the chain's clock unavailable: the next scan asks again
            return 0
        until = (day + dt.timedelta(days=self.core.settings.alert_expiry_days)).isoformat()
        made = 0
        with self.core.sessions.begin() as s:
            soon = _watched(
                s,
                Certificate.valid_until >= day.isoformat(),
                Certificate.valid_until <= until,
                Certificate.status == CertificateStatus.ANCHORED,
            )
            digests = sorted({item["digest"] for items in soon.values() for item in items})
            revoked: set[str] = set()
            for i in range(0, len(digests), _CHUNK):  # a registry's month of expiries is more than a statement carries
                chosen = LifecycleOp.digest.in_(digests[i : i + _CHUNK]), LifecycleOp.state == OperationState.DONE
                revoked.update(s.scalars(select(LifecycleOp.digest).where(*chosen)))
            for usci, items in soon.items():
                for item in items:
                    if item["digest"] in revoked:
                        continue
                    key = f"EXPIRING:{item['digest']}:{item['valid_until']}"
                    made += _emit(
                        s, usci, key, "CERTIFICATE_EXPIRING", {"event": {"certificate": item}, "affected": [item]}
                    )
        return made

    # -- labs on chain

    def _labs(self) -> int:
        made = 0
        with self.core.sessions() as s:
            named = select(Certificate.lab_id).join(Watch, Watch.digest == Certificate.digest)
            linked = select(Certificate.lab_id).join(Instrument, LINK)
            labs = sorted(set(s.scalars(named.distinct())) | set(s.scalars(linked.distinct())))
        for lab in labs:
            try:
                made += self._lab(lab)
            except ChainError as exc:
                logger.warning("alerts: the chain could not be asked about lab %s (%s); next scan", lab, exc)
                return made
        return made

    def _lab(self, lab: str) -> int:
        now = self.core.chain_now()
        state = self.core.chain.lab_at(from_hex(lab), now)
        status = LabStatus(int(state["status"]))
        sanctions = self.core.chain.sanctions(from_hex(lab)) or []
        made = 0
        with self.core.sessions.begin() as s:
            mark = s.get(AlertMark, f"lab-status:{lab}")
            if mark is None:
                mark = AlertMark(key=f"lab-status:{lab}", value=status.name, updated_at=utcnow())
                s.add(mark)
            elif mark.value != status.name:
                mark.value, mark.updated_at = status.name, utcnow()
            watchers: dict[str, list[dict[str, Any]]] | None = None
            if status is LabStatus.SUSPENDED:
                # One alert per suspension (keyed by when it was first seen) for every enterprise relying on the lab
                # while it lasts: one that begins watching during the suspension hears of it at the next scan.
                seen = mark.updated_at if mark.updated_at.tzinfo else mark.updated_at.replace(tzinfo=dt.UTC)
                suspended_since = int(seen.timestamp())
                watchers = self._lab_watchers(s, lab)
                event = {
                    "lab_id": lab,
                    "status": {"code": status.name, "zh": status.zh, "en": status.en},
                    "seen": local_time(suspended_since),
                }
                for usci, items in watchers.items():
                    made += _emit(
                        s,
                        usci,
                        f"LAB_SUSPENDED:{lab}:{suspended_since}",
                        "LAB_SUSPENDED",
                        {"event": event, "affected": items},
                    )
            for entry in sanctions:
                if entry.kind is SanctionKind.LIFTING:
                    continue
                if watchers is None:
                    watchers = self._lab_watchers(s, lab)
                for usci, items in watchers.items():
                    since = self._watching_since(s, usci, items)
                    if since is None or entry.recorded_at < since:
                        continue
                    event = {
                        "lab_id": lab,
                        "sanction": {
                            "index": entry.index,
                            "code": entry.kind.name,
                            "zh": entry.kind.zh,
                            "en": entry.kind.en,
                            "case": entry.case_number,
                            "recorded_at": local_time(entry.recorded_at),
                        },
                    }
                    key = f"LAB_SANCTIONED:{lab}:{entry.index}"
                    made += _emit(s, usci, key, "LAB_SANCTIONED", {"event": event, "affected": items})
        return made

    def _lab_watchers(self, s: Session, lab: str) -> dict[str, list[dict[str, Any]]]:
        return _watched(s, Certificate.lab_id == lab, Certificate.status == CertificateStatus.ANCHORED)

    @staticmethod
    def _watching_since(s: Session, usci: str, items: list[dict[str, Any]]) -> int | None:
        """When the enterprise began watching the lab: its first watch of one of the lab's certificates ``items``,
        or the registration of its first instrument they are about; as a unix time."""
        digests = sorted({i["digest"] for i in items if i["relation"] == "WATCHED"})
        instruments = sorted({i["instrument_id"] for i in items if i["relation"] == "INSTRUMENT"})
        moments: list[dt.datetime | None] = []
        for i in range(0, len(digests), _CHUNK):
            chosen = Watch.usci == usci, Watch.digest.in_(digests[i : i + _CHUNK])
            moments.append(s.scalar(select(Watch.created_at).where(*chosen).order_by(Watch.created_at).limit(1)))
        for i in range(0, len(instruments), _CHUNK):
            chosen_ids = Instrument.id.in_(instruments[i : i + _CHUNK])
            oldest = select(Instrument.registered_at).where(chosen_ids).order_by(Instrument.registered_at).limit(1)
            moments.append(s.scalar(oldest))
        found = [m for m in moments if m is not None]
        if not found:
            return None
        first = min(m if m.tzinfo else m.replace(tzinfo=dt.UTC) for m in found)
        return int(first.timestamp())


KINDS_OF_OP: dict[str, str] = {
    OperationKind.REVOKE: "CERTIFICATE_REVOKED",
    OperationKind.SUBSTITUTE: "CERTIFICATE_SUBSTITUTED",
}


# ---------------------------------------------------------------------------------------------- the sender


class AlertSender:
    """Posts the outbox's due deliveries (signed), in a thread of its own; backoff 2^attempts seconds (at most an
    hour) after a failure; given up after ``webhook_max_attempts``."""

    def __init__(self, core: RegistryCore, *, poll_interval: float = 0.5) -> None:
        self.core = core
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="alert-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current post."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        settings = self.core.settings
        with webhook_client(settings.webhook_allow_private, settings.webhook_timeout_seconds) as client:
            while not self._stop.is_set():
                try:
                    if not self.send_due(client):
                        self._stop.wait(self.poll_interval)
                except Exception:
                    logger.exception("alert sender step failed; retrying")
                    self._stop.wait(1.0)

    def send_due(self, client: httpx.Client, limit: int = 50) -> int:
        """Post the due deliveries once each; return how many were tried."""
        with self.core.sessions() as s:
            due = s.execute(
                select(Delivery.id, Delivery.alert_id, Delivery.attempts, Webhook.url, Webhook.active)
                .join(Webhook, Webhook.id == Delivery.webhook_id)
                .where(Delivery.state == DeliveryState.PENDING, Delivery.next_attempt_at <= utcnow())
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(limit)
            ).all()
        if not due:
            return 0
        key = alert_key(self.core)
        for delivery_id, alert_id, attempts, url, active in due:
            if self._stop.is_set():
                break
            if not active:  # removed while this delivery was being written: given up, not posted
                self._give_up(delivery_id, "webhook removed")
                continue
            with self.core.sessions() as s:
                alert = s.get(AlertRow, alert_id)
                assert alert is not None
                body = json.dumps(alert_body(alert), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            error = self._post(client, url, key, alert_id, body.encode("utf-8"))
            self._record(delivery_id, attempts + 1, error)
        return len(due)

    def _post(self, client: httpx.Client, url: str, key: SigningKey, alert_id: int, body: bytes) -> str | None:
        parts = urlsplit(url)
        if not self.core.settings.webhook_allow_private and not public_address(parts.hostname or ""):
            return "the webhook's host resolves to a non-public address"
        try:
            answer = client.post(url, content=body, headers=sign_delivery(key, alert_id, body))
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        return None if answer.is_success else f"HTTP {answer.status_code}"

    def _give_up(self, delivery_id: int, why: str) -> None:
        with self.core.sessions.begin() as s:
            row = s.get(Delivery, delivery_id)
            assert row is not None
            row.state, row.last_error = DeliveryState.FAILED, why

    def _record(self, delivery_id: int, attempts: int, error: str | None) -> None:
        with self.core.sessions.begin() as s:
            row = s.get(Delivery, delivery_id)
            assert row is not None
            row.attempts = attempts
            if error is None:
                row.state, row.delivered_at, row.last_error = DeliveryState.DELIVERED, utcnow(), None
            elif attempts >= self.core.settings.webhook_max_attempts:
                row.state, row.last_error = DeliveryState.FAILED, error
            else:
                row.last_error = error
                row.next_attempt_at = utcnow() + dt.timedelta(seconds=min(2**attempts, 3600))
