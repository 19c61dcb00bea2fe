"""The registry's core: settings, database, chain and key custody in one object, plus credentials, lab custody and
the on-chain checks every write needs (is the lab active and authorized now, is this key valid now).

The chain is the source of truth for whether a lab may issue at all: these checks ask it (through a short cache),
never the registry's own tables.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.config import RegistrySettings
from registry.custody import Custody
from registry.db import (
    ApiToken,
    DbJournal,
    HeldKey,
    Lab,
    make_engine,
    make_sessionmaker,
    migrate,
    utcnow,
    wait_for_database,
)
from registry.errors import (
    ChainUnavailableError,
    Forbidden,
    LabNotActive,
    LabNotAuthorized,
    NotFound,
    SignatureRejected,
    Unauthorized,
)
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.signing import SigningKey
from tracecert.chain.contracts import ChainContracts, KeyInfo
from tracecert.chain.deploy import client_for, wait_for_deployment
from tracecert.chain.errors import ChainError, ChainUnavailable, ContractReverted
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabStatus

if TYPE_CHECKING:
    from registry.rules import Rulebook

__all__ = ["Principal", "RegistryCore", "hash_token"]

logger = logging.getLogger(__name__)

Role = Literal["LAB", "REGULATOR", "ENTERPRISE"]


def hash_token(token: str) -> str:
    """How a token is stored: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a lab (scoped to ``lab_id``), a regulator (its chain account) or an enterprise (its USCI)."""

    role: Role
    token_id: int
    lab_id: str | None = None
    regulator_address: str | None = None
    usci: str | None = None


class _Cache:
    """A tiny thread-safe TTL cache for chain answers."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._data: dict[object, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            return hit[1]

    def put(self, key: object, value: object, ttl: float | None = None) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)

    def drop(self, key: object) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class RegistryCore:
    """Everything a registry request or the anchoring worker needs.

    Build it with :meth:`open` (settings → database, migrations, chain) or directly with parts (tests).
    """

    def __init__(self, settings: RegistrySettings, engine: Engine, chain: ChainContracts | None) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_sessionmaker(engine)
        self._chain = chain
        self.custody = Custody(settings.secret_bytes())
        self.journal = DbJournal(self.sessions)
        self._authz = _Cache(settings.authorization_cache_seconds)
        #: One acceptance at a time in this process (:func:`registry.issuance.accept_many`).
        self.accepting = threading.Lock()
        self._keys = _Cache(settings.authorization_cache_seconds)
        self._senders: dict[str, TransactionSender] = {}
        self._senders_lock = threading.Lock()
        self._chain_time: tuple[float, int] | None = None
        self._rulebook: Rulebook | None = None

    @property
    def chain(self) -> ChainContracts:
        """The deployed contracts.

        Raises:
            ChainUnavailableError: this core was opened without a chain (:meth:`open_offline`).
        """
        if self._chain is None:
            raise ChainUnavailableError("this registry core was opened without a chain connection")
        return self._chain

    @classmethod
    def open_offline(cls, settings: RegistrySettings) -> RegistryCore:
        """Database and key custody only, for operator commands that never touch the chain (tokens)."""
        settings.secret_bytes()
        engine = make_engine(settings.database)
        wait_for_database(engine)
        migrate(engine)
        return cls(settings, engine, None)

    @classmethod
    def open(cls, settings: RegistrySettings, chain: ChainContracts | None = None) -> RegistryCore:
        """Connect to the database (migrating it) and the chain of the recorded deployment.

        Raises:
            DeploymentNotFound, ChainUnavailable: no usable chain or deployment.
            ValueError: no key-custody secret configured.
        """
        settings.secret_bytes()  # fail early, before touching anything
        engine = make_engine(settings.database)
        wait_for_database(engine)
        migrate(engine)
        if chain is None:
            url = (
                settings.chain.rpc_url
                or AnvilNode.detached_url(settings.chain.data_dir)
                or f"http://{settings.chain.anvil_host}:{settings.chain.anvil_port}"
            )
            client = client_for(url, settings.chain.deployment_file)
            # A service starting while its node (re)starts waits for it, as for its database.
            chain = ChainContracts(client, wait_for_deployment(client, settings.chain.deployment_file, 60.0))
        return cls(settings, engine, chain)

    # ------------------------------------------------------------------ credentials

    def issue_token(
        self,
        role: Role,
        *,
        lab_id: str | None = None,
        regulator_address: str | None = None,
        usci: str | None = None,
        label: str = "",
    ) -> tuple[int, str]:
        """Create an API token; return its id and the token itself (shown once, stored only hashed)."""
        if (
            (role == "LAB") != (lab_id is not None)
            or (role == "REGULATOR") != (regulator_address is not None)
            or (role == "ENTERPRISE") != (usci is not None)
        ):
            raise ValueError("a LAB token names a lab, a REGULATOR token a regulator account, an ENTERPRISE a USCI")
        token = f"tc_{role.lower()}_{secrets.token_urlsafe(32)}"
        with self.sessions.begin() as s:
            if lab_id is not None and s.get(Lab, lab_id) is None:
                raise NotFound(f"unknown lab {lab_id}", code="UNKNOWN_LAB")
            row = ApiToken(
                token_hash=hash_token(token),
                role=role,
                lab_id=lab_id,
                regulator_address=regulator_address,
                usci=usci,
                label=label,
            )
            s.add(row)
            s.flush()
            return row.id, token

    def revoke_token(self, token_id: int) -> None:
        """Revoke a token for good."""
        with self.sessions.begin() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"no token {token_id}")
            row.revoked_at = row.revoked_at or utcnow()

    def authenticate(self, token: str | None) -> Principal:
        """The principal of a bearer token.

        Raises:
            Unauthorized: missing, unknown or revoked token.
        """
        if not token:
            raise Unauthorized("an API token is required (Authorization: Bearer <token>)")
        with self.sessions() as s:
            row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("unknown or revoked API token")
        return Principal(row.role, row.id, row.lab_id, row.regulator_address, row.usci)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ labs and held keys

    def add_lab(self, code: str, name: str) -> Lab:
        """Register a lab with this registry (idempotent per code): creates the writer account the registry will
        anchor with. The lab's admin must then add ``writer_address`` as a writer on chain."""
        lab_id = to_hex(derive_lab_id(code))
        with self.sessions.begin() as s:
            lab = s.get(Lab, lab_id)
            if lab is not None:
                return lab
            account, sealed = self.custody.new_account()
            lab = Lab(lab_id=lab_id, code=code, name=name, writer_address=account.address)
            s.add(lab)
            s.flush()
            s.add(HeldKey(id=account.address, lab_id=lab_id, kind="WRITER", public=account.address, sealed=sealed))
            return lab

    def lab(self, lab_id: str) -> Lab:
        """A lab known to this registry.

        Raises:
            NotFound: UNKNOWN_LAB.
        """
        with self.sessions() as s:
            lab = s.get(Lab, lab_id)
        if lab is None:
            raise NotFound(f"lab {lab_id} is not registered with this registry", code="UNKNOWN_LAB")
        return lab

    def new_held_signing_key(self, lab_id: str) -> SigningKey:
        """Generate an Ed25519 key held (sealed) by the registry for ``lab_id`` (registry-signing mode). The lab's
        admin must register its public key on chain before it can sign."""
        self.lab(lab_id)
        return self.new_held_key("SIGNING", lab_id)

    def new_held_key(self, kind: str, lab_id: str | None = None) -> SigningKey:
        """Generate an Ed25519 key the registry holds sealed: a lab's signing key (``SIGNING``) or its own alert
        key (``ALERTS``, no lab)."""
        seed = os.urandom(32)
        key = SigningKey.from_seed(seed)
        key_id = to_hex(key.key_id)
        with self.sessions.begin() as s:
            s.add(
                HeldKey(
                    id=key_id,
                    lab_id=lab_id,
                    kind=kind,
                    public=to_hex(key.public_key),
                    sealed=self.custody.seal(key_id, seed),
                )
            )
        return key

    def held_signing_key(self, lab_id: str) -> SigningKey:
        """A held signing key of the lab that is valid on chain now (the newest such).

        Raises:
            SignatureRejected: KEY_NOT_HELD when the registry holds no valid key for the lab.
        """
        with self.sessions() as s:
            rows = list(
                s.scalars(
                    select(HeldKey)
                    .where(HeldKey.lab_id == lab_id, HeldKey.kind == "SIGNING")
                    .order_by(HeldKey.created_at.desc())
                )
            )
        for row in rows:
            try:
                self.require_key_valid(lab_id, row.id)
            except SignatureRejected:
                continue
            return self.custody.open_signing_key(row.id, row.sealed)
        raise SignatureRejected(
            "the registry holds no key of this lab that is valid on chain now; sign the "
            "record yourself or have a key registered",
            code="KEY_NOT_HELD",
        )

    def add_regulator_account(self, sealed_from_key: bytes) -> str:
        """Hold a regulator's chain account (for revocations it orders through this registry); return its address."""
        from eth_account import Account

        account = Account.from_key(sealed_from_key)
        with self.sessions.begin() as s:
            if s.get(HeldKey, account.address) is None:
                s.add(
                    HeldKey(
                        id=account.address,
                        lab_id=None,
                        kind="REGULATOR",
                        public=account.address,
                        sealed=self.custody.seal(account.address, bytes(account.key)),
                    )
                )
        return str(account.address)

    def sender_for(self, address: str) -> TransactionSender:
        """The one transaction sender of a held account (writer or regulator), journaled in the database."""
        with self._senders_lock:
            sender = self._senders.get(address)
            if sender is None:
                with self.sessions() as s:
                    row = s.get(HeldKey, address)
                if row is None or row.kind not in ("WRITER", "REGULATOR"):
                    raise NotFound(f"the registry holds no account {address}", code="UNKNOWN_ACCOUNT")
                account = self.custody.open_account(address, row.sealed)
                chain_settings = self.settings.chain
                sender = TransactionSender(
                    self.chain.client,
                    account,
                    self.journal,
                    confirmations=chain_settings.confirmations,
                    receipt_timeout=chain_settings.receipt_timeout,
                    poll_interval=chain_settings.poll_interval,
                )
                self._senders[address] = sender
            return sender

    # ------------------------------------------------------------------ on-chain checks

    def chain_now(self) -> int:
        """The chain's current time: the latest block timestamp, advanced by local elapsed time (cached 1 s)."""
        cached = self._chain_time
        if cached is None or time.monotonic() - cached[0] > 1.0:
            try:
                cached = (time.monotonic(), self.chain.client.block_timestamp())
            except ChainUnavailable as exc:
                raise ChainUnavailableError("the chain node is unreachable; retry") from exc
            self._chain_time = cached
        return cached[1] + int(time.monotonic() - cached[0])

    @property
    def rules(self) -> Rulebook:
        """The verifier's checks as the registry runs them at acceptance (:mod:`registry.rules`)."""
        if self._rulebook is None:
            from registry.rules import Rulebook

            self._rulebook = Rulebook(self)
        return self._rulebook

    def require_can_issue(self, lab_id: str, category: str, activity: Activity) -> None:
        """The lab is ACTIVE on chain and authorized now for ``category`` and ``activity``.

        Raises:
            LabNotActive: LAB_SUSPENDED, LAB_REVOKED or LAB_NOT_REGISTERED.
            LabNotAuthorized: outside the current authorization's window or scope.
            ChainUnavailableError: the chain could not be asked.
        """
        key = (lab_id, category, int(activity))
        cached = self._authz.get(key)
        if cached is None:
            cached = self._ask_can_issue(lab_id, category, activity)
            if isinstance(cached, Exception):
                # Before refusing, ask again at the chain's fresh time (a reinstatement may have just landed);
                # a refusal is then remembered only briefly, an approval for the configured time.
                self._chain_time = None
                cached = self._ask_can_issue(lab_id, category, activity)
            self._authz.put(key, cached, None if cached is True else min(1.0, self._authz.ttl))
        if isinstance(cached, Exception):
            raise cached

    def _ask_can_issue(self, lab_id: str, category: str, activity: Activity) -> Exception | bool:
        lab = bytes.fromhex(lab_id[2:])
        try:
            now = self.chain_now()
            state = self.chain.lab_at(lab, now)
            if state["lab_number"] == 0:
                return LabNotActive(f"lab {lab_id} is not registered on chain", code="LAB_NOT_REGISTERED")
            status = LabStatus(state["status"])
            if status == LabStatus.SUSPENDED:
                return LabNotActive(f"lab {lab_id} is suspended", code="LAB_SUSPENDED")
            if status == LabStatus.REVOKED:
                return LabNotActive(f"lab {lab_id} is revoked", code="LAB_REVOKED")
            if not self.chain.is_authorized(lab, category, activity, now):
                what = "verification (检定)" if activity == Activity.VERIFY else "calibration (校准)"
                return LabNotAuthorized(
                    f"lab {lab_id} is not authorized now for {what} of category {category!r}",
                    details={"category_code": category, "activity": activity.name},
                )
        except ChainUnavailable as exc:
            raise ChainUnavailableError("the chain node is unreachable; retry") from exc
        return True

    def key_info(self, key_id: str) -> KeyInfo | None:
        """A key registered on chain (cached briefly), or None if unknown."""
        cached = self._keys.get(key_id)
        if cached is None:
            try:
                cached = self.chain.key(bytes.fromhex(key_id[2:]))
            except ContractReverted:
                cached = False
            except ChainUnavailable as exc:
                raise ChainUnavailableError("the chain node is unreachable; retry") from exc
            self._keys.put(key_id, cached)
        return cached if isinstance(cached, KeyInfo) else None

    def require_key_valid(self, lab_id: str, key_id: str) -> KeyInfo:
        """The key is registered on chain for ``lab_id`` and inside its window now.

        Raises:
            SignatureRejected: UNKNOWN_KEY (not on chain, or another lab's) or KEY_NOT_VALID (outside its window).
        """
        info = self.key_info(key_id)
        if info is None or to_hex(info.lab_id) != lab_id or not info.valid_from <= self.chain_now() < info.valid_until:
            # Refuse only on fresh answers: the key may have just been registered, or the chain time moved on.
            self._keys.drop(key_id)
            self._chain_time = None
            info = self.key_info(key_id)
        if info is None or to_hex(info.lab_id) != lab_id:
            raise SignatureRejected(f"key {key_id} is not a registered key of lab {lab_id}", code="UNKNOWN_KEY")
        now = self.chain_now()
        if not info.valid_from <= now < info.valid_until:
            raise SignatureRejected(
                f"key {key_id} is not valid now (window {info.valid_from}..{info.valid_until})", code="KEY_NOT_VALID"
            )
        return info

    def regulator_covers(self, regulator_address: str, lab_id: str) -> bool:
        """Whether the regulator account is, on chain, an active regulator over the lab."""
        try:
            number = self.chain.call(self.chain.trust, "labNumberOf", bytes.fromhex(lab_id[2:]))
            return bool(self.chain.call(self.chain.trust, "isRegulatorOver", regulator_address, number))
        except ContractReverted:
            return False
        except ChainError as exc:
            raise ChainUnavailableError("the chain node is unreachable; retry") from exc

    def regulator_of_region(self, regulator_address: str, region: int) -> bool:
        """Whether the regulator account is, on chain, an active regulator whose jurisdiction covers ``region``."""
        key = ("region", regulator_address.lower(), region)
        known = self._authz.get(key)
        if known is not None:
            return bool(known)
        try:
            answer = bool(self.chain.call(self.chain.trust, "isRegulatorOfRegion", regulator_address, region))
        except ContractReverted:
            answer = False
        except ChainError as exc:
            raise ChainUnavailableError("the chain node is unreachable; retry") from exc
        self._authz.put(key, answer, None if answer else min(1.0, self._authz.ttl))
        return answer

    def require_lab_or_regulator(self, principal: Principal, lab_id: str) -> None:
        """The principal is the lab itself or a regulator over it.

        Raises:
            Forbidden: WRONG_LAB for another lab, NOT_REGULATOR_OVER_LAB for a regulator elsewhere.
        """
        if principal.role == "LAB":
            if principal.lab_id != lab_id:
                from registry.errors import WrongLab

                raise WrongLab("this certificate belongs to another lab")
            return
        if principal.regulator_address is None or not self.regulator_covers(principal.regulator_address, lab_id):
            raise Forbidden("this regulator has no jurisdiction over the lab", code="NOT_REGULATOR_OVER_LAB")

    def forget_chain_answers(self) -> None:
        """Drop cached chain answers (after a change the registry made itself, and in tests)."""
        self._authz.clear()
        self._keys.clear()
        self._chain_time = None
