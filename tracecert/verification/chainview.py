"""What the verifier asks the chain, behind one small interface.

:class:`LiveChainView` asks a JSON-RPC node directly (the offline CLI: a proof bundle plus an RPC URL). The
verifier's own index (:mod:`verifier.index`) implements the same :class:`ChainView` protocol from contract events,
which answers in microseconds instead of RPC round trips. Either way the chain is the only source of truth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tracecert.chain.contracts import BatchInfo, CertificateStatus, ChainContracts, KeyInfo, Sanction
from tracecert.chain.errors import ContractReverted
from tracecert.chain.types import Activity, CertificateState, LabKind, LabStatus, category_code

__all__ = ["CachedChainView", "ChainView", "LabState", "LiveChainView"]


@dataclass(frozen=True)
class LabState:
    """A lab as the trust registry saw it at one moment."""

    lab_id: bytes
    kind: LabKind
    jurisdiction: int
    status: LabStatus
    authorized: bool  # an authorization window covers the moment
    authorization_number: str
    valid_from: int
    valid_until: int


class ChainView(Protocol):
    """The chain reads the verification engine needs."""

    def chain_id(self) -> int:
        """EIP-155 chain id."""

    def certificate_registry(self) -> str:
        """Address of the CertificateRegistry."""

    def now(self) -> int:
        """Current chain time (latest block timestamp)."""

    def batch(self, root: bytes) -> BatchInfo | None:
        """An anchored batch, or None."""

    def key(self, key_id: bytes) -> KeyInfo | None:
        """A registered key, or None."""

    def lab_at(self, lab_id: bytes, at: int) -> LabState | None:
        """The lab at time ``at``, or None if it is not registered."""

    def is_authorized(self, lab_id: bytes, category: str, activity: Activity, at: int) -> bool:
        """Was the lab authorized for the category and activity at ``at``?"""

    def status(self, lab_id: bytes, digest: bytes) -> CertificateStatus:
        """The lab's recorded status of a certificate."""

    def lab_name(self, lab_id: bytes) -> str | None:
        """The lab's registered name (from its registration event), if known."""

    def batch_published(self, root: bytes) -> bool | None:
        """True when the batch's contents were served and hash to its anchored root, False when they are withheld
        or do not match, None when the view cannot tell (a node holds roots only) or has not fetched them yet."""

    def numbered(self, lab_id: bytes, number: str) -> list[bytes]:
        """Digests that anchored batches of the lab list under this certificate number, as far as the view knows
        batch contents (the number is the listing's word, to be confirmed by each record); empty if it cannot tell.
        """

    def sanctions(self, subject: bytes) -> list[Sanction] | None:
        """The credit record of a lab (its id) or an enterprise (:func:`~tracecert.chain.contracts.enterprise_subject`),
        oldest first; None when the deployment has no CreditRegistry."""


class LiveChainView:
    """A :class:`ChainView` over JSON-RPC calls to the deployed contracts."""

    def __init__(self, contracts: ChainContracts) -> None:
        self.contracts = contracts
        self._names: dict[bytes, str | None] = {}

    def chain_id(self) -> int:
        """See :class:`ChainView`."""
        return self.contracts.client.chain_id

    def certificate_registry(self) -> str:
        """See :class:`ChainView`."""
        return self.contracts.deployment.certificate_registry

    def now(self) -> int:
        """See :class:`ChainView`."""
        return self.contracts.client.block_timestamp()

    def batch(self, root: bytes) -> BatchInfo | None:
        """See :class:`ChainView`."""
        try:
            return self.contracts.batch(root)
        except ContractReverted:
            return None

    def key(self, key_id: bytes) -> KeyInfo | None:
        """See :class:`ChainView`."""
        try:
            return self.contracts.key(key_id)
        except ContractReverted:
            return None

    def lab_at(self, lab_id: bytes, at: int) -> LabState | None:
        """See :class:`ChainView`."""
        state = self.contracts.lab_at(lab_id, at)
        if state["lab_number"] == 0:
            return None
        return LabState(
            lab_id,
            LabKind(state["kind"]),
            state["jurisdiction"],
            LabStatus(state["status"]),
            bool(state["authorized"]),
            state["number"],
            state["valid_from"],
            state["valid_until"],
        )

    def is_authorized(self, lab_id: bytes, category: str, activity: Activity, at: int) -> bool:
        """See :class:`ChainView`."""
        try:
            category_code(category)
        except ValueError:
            return False
        return self.contracts.is_authorized(lab_id, category, activity, at)

    def status(self, lab_id: bytes, digest: bytes) -> CertificateStatus:
        """See :class:`ChainView`."""
        return self.contracts.status(lab_id, digest)

    def lab_name(self, lab_id: bytes) -> str | None:
        """See :class:`ChainView`: read once from the LabRegistered event (names never change)."""
        if lab_id not in self._names:
            self._names[lab_id] = self.contracts.lab_name(lab_id)
        return self._names[lab_id]

    def batch_published(self, root: bytes) -> bool | None:
        """See :class:`ChainView`: the contracts hold roots, not contents, so a node cannot tell."""
        return None

    def numbered(self, lab_id: bytes, number: str) -> list[bytes]:
        """See :class:`ChainView`: the contracts hold roots, not contents, so a node cannot tell."""
        return []

    def sanctions(self, subject: bytes) -> list[Sanction] | None:
        """See :class:`ChainView`."""
        return self.contracts.sanctions(subject)


T = TypeVar("T")


class CachedChainView:
    """A :class:`ChainView` that remembers each answer of another for ``ttl`` seconds (0: not at all), so that a
    bulk of certificates of one lab asks the node once per question. Answers about the past can change too (an
    authorization recorded later may start in the past; a key window may be closed retroactively), so nothing is
    kept for longer than ``ttl``.
    """

    def __init__(self, inner: ChainView, ttl: float, *, entries: int = 50_000) -> None:
        self.inner = inner
        self.ttl = ttl
        self.entries = entries
        self._answers: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _ask(self, key: Hashable, ask: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return ask()
        now = time.monotonic()
        with self._lock:
            hit = self._answers.get(key)
        if hit is not None and hit[0] > now:
            answer: T = hit[1]
            return answer
        answer = ask()
        with self._lock:
            if len(self._answers) >= self.entries:
                self._answers.clear()
            self._answers[key] = (now + self.ttl, answer)
        return answer

    def chain_id(self) -> int:
        """See :class:`ChainView`."""
        return self._ask(("chain_id",), self.inner.chain_id)

    def certificate_registry(self) -> str:
        """See :class:`ChainView`."""
        return self._ask(("certificate_registry",), self.inner.certificate_registry)

    def now(self) -> int:
        """See :class:`ChainView`."""
        return self._ask(("now",), self.inner.now)

    def batch(self, root: bytes) -> BatchInfo | None:
        """See :class:`ChainView`."""
        return self._ask(("batch", root), lambda: self.inner.batch(root))

    def key(self, key_id: bytes) -> KeyInfo | None:
        """See :class:`ChainView`."""
        return self._ask(("key", key_id), lambda: self.inner.key(key_id))

    def lab_at(self, lab_id: bytes, at: int) -> LabState | None:
        """See :class:`ChainView`."""
        return self._ask(("lab_at", lab_id, at), lambda: self.inner.lab_at(lab_id, at))

    def is_authorized(self, lab_id: bytes, category: str, activity: Activity, at: int) -> bool:
        """See :class:`ChainView`."""
        return self._ask(
            ("is_authorized", lab_id, category, int(activity), at),
            lambda: self.inner.is_authorized(lab_id, category, activity, at),
        )

    def status(self, lab_id: bytes, digest: bytes) -> CertificateStatus:
        """See :class:`ChainView`."""
        return self._ask(("status", lab_id, digest), lambda: self.inner.status(lab_id, digest))

    def lab_name(self, lab_id: bytes) -> str | None:
        """See :class:`ChainView`."""
        return self._ask(("lab_name", lab_id), lambda: self.inner.lab_name(lab_id))

    def batch_published(self, root: bytes) -> bool | None:
        """See :class:`ChainView`."""
        return self._ask(("batch_published", root), lambda: self.inner.batch_published(root))

    def numbered(self, lab_id: bytes, number: str) -> list[bytes]:
        """See :class:`ChainView`."""
        return self._ask(("numbered", lab_id, number), lambda: self.inner.numbered(lab_id, number))

    def sanctions(self, subject: bytes) -> list[Sanction] | None:
        """See :class:`ChainView`."""
        return self._ask(("sanctions", subject), lambda: self.inner.sanctions(subject))


_NONE = CertificateStatus(CertificateState.NONE, 0, 0, 0, None)
