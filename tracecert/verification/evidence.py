"""What every check is given: a certificate normalized to :class:`Evidence`, and the :class:`Policy` it is judged by.

Times: certificate dates are calendar dates in the lab's time zone (China Standard Time, UTC+8, by default); a
date D counts as the interval [D 00:00, D+1 00:00) there (:meth:`Policy.day`). Chain times are block timestamps.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tracecert.certificate.bundle import ProofBundle, parse_bundle
from tracecert.certificate.canonical import certificate_digest, from_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.model import CertificateRecord, record_from_json
from tracecert.human import DAY, local_time

if TYPE_CHECKING:
    from tracecert.certificate.dcc.signature import TrustStore

__all__ = ["Evidence", "Policy"]


@dataclass(frozen=True)
class Policy:
    """Tunable thresholds of the checks."""

    tz_offset_hours: int = 8
    #: Longest acceptable time between the issue date and anchoring (backdating).
    max_anchor_lag_days: int = 14
    #: Test uncertainty ratio floor for calibration chains (U_child / U_parent).
    tur: Decimal = Decimal(4)
    #: For verification: the standard's U must be ≤ MPE / this.
    mpe_ratio: Decimal = Decimal(3)
    max_depth: int = 12
    default_validity_days: int = 366
    #: How long a standard's verified certificate is reused (chain state may change: keep it short).
    cache_seconds: float = 5.0
    cache_entries: int = 10_000
    #: What a signed DCC's XML signature is checked against (DCC_SIGNATURE); None: no trust store, the signer
    #: of a signed DCC is not judged (the check is skipped once its bytes verify).
    dcc_trust: TrustStore | None = None

    def last_anchor_time(self, issue_date: dt.date) -> int:
        """The latest anchoring time (unix seconds) that does not fail ANCHOR_LAG for a certificate issued on
        ``issue_date``: the end of that day (in ``tz_offset_hours``) plus ``max_anchor_lag_days``."""
        return _day_bounds(issue_date, self.tz_offset_hours)[1] + self.max_anchor_lag_days * DAY

    def day(self, day: dt.date) -> tuple[int, int]:
        """A certificate date as the unix interval [start, end) it covers in ``tz_offset_hours``."""
        return _day_bounds(day, self.tz_offset_hours)

    def when(self, seconds: int) -> str:
        """A chain time as a person reads it, in ``tz_offset_hours``."""
        return local_time(seconds, self.tz_offset_hours)


@dataclass
class Evidence:
    """A certificate normalized for checking."""

    record: CertificateRecord | None = None
    record_error: CertificateError | None = None
    digest: bytes | None = None  # computed from the record (never taken on trust)
    claimed_digest: bytes | None = None
    key_id: bytes | None = None
    public_key: bytes | None = None
    signature: bytes | None = None
    root: bytes | None = None
    leaf_index: int | None = None
    tree_size: int | None = None
    proof: list[bytes] = field(default_factory=list)
    document: bytes | None = None
    source: str = ""
    #: The signature was verified against this very key already (the registry, which just made or checked it).
    signature_checked: bool = False

    @classmethod
    def from_bundle(cls, bundle: dict[str, Any] | ProofBundle, document: bytes | None = None) -> Evidence:
        """Evidence from a proof bundle (a structurally broken bundle gives evidence with ``record_error``)."""
        try:
            parsed = bundle if isinstance(bundle, ProofBundle) else parse_bundle(bundle)
        except CertificateError as exc:
            return cls(record_error=exc, document=document, source="bundle")
        record = parsed.record
        return cls(
            record=record,
            digest=certificate_digest(record),
            claimed_digest=from_hex(parsed.digest),
            key_id=from_hex(parsed.signature.key_id),
            public_key=from_hex(parsed.signature.public_key),
            signature=from_hex(parsed.signature.value, 64),
            root=from_hex(parsed.anchor.root),
            leaf_index=parsed.proof.leaf_index,
            tree_size=parsed.proof.tree_size,
            proof=[from_hex(h) for h in parsed.proof.hashes],
            document=document,
            source="bundle",
        )

    @classmethod
    def from_record(cls, record: bytes | str | dict[str, Any], document: bytes | None = None) -> Evidence:
        """Evidence from a bare record (its anchoring must be found elsewhere)."""
        try:
            parsed = record_from_json(record)
        except CertificateError as exc:
            return cls(record_error=exc, document=document, source="record")
        return cls(record=parsed, digest=certificate_digest(parsed), document=document, source="record")


@functools.lru_cache(maxsize=8192)
def _day_bounds(day: dt.date, tz_offset_hours: int) -> tuple[int, int]:
    """A calendar date in a time zone as the unix interval [start, end)."""
    tz = dt.timezone(dt.timedelta(hours=tz_offset_hours))
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
    return start, start + DAY
