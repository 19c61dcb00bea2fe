"""The deployed TraceCert contracts as a typed Python API: every write and every read the services need.

Writes take the :class:`~tracecert.chain.sender.TransactionSender` of the account that acts (least privilege:
regulators, lab admins and lab writers are different accounts). Reverts raise
:class:`~tracecert.chain.errors.ContractReverted` named after the contract's custom error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.method_formatters import log_entry_formatter
from web3.contract import Contract

from tracecert.chain.client import ChainClient, revert_guard
from tracecert.chain.deploy import Deployment
from tracecert.chain.errors import DeploymentNotFound, canonical_type
from tracecert.chain.sender import Receipt, TransactionSender
from tracecert.chain.types import (
    Activity,
    CertificateState,
    LabKind,
    RevocationReason,
    SanctionKind,
    SanctionReason,
    SubjectKind,
    category_code,
    chain_time,
)

__all__ = ["BatchInfo", "CertificateStatus", "ChainContracts", "KeyInfo", "Sanction", "enterprise_subject"]

_OPEN = (1 << 64) - 1


def enterprise_subject(usci: str) -> bytes:
    """The credit record's subject id of an enterprise: keccak256 of its unified social credit code (18 ASCII
    characters, as the CreditRegistry computes it)."""
    return keccak(text=usci)


@dataclass(frozen=True)
class Sanction:
    """One entry of the on-chain credit record (计量信用记录) of a lab or an enterprise."""

    subject: bytes
    index: int
    subject_kind: SubjectKind
    kind: SanctionKind
    reason: SanctionReason
    region: int  # an enterprise's GB/T 2260 region (from its USCI); 0 for a lab
    lifts: int | None  # for a LIFTING: the index of the entry it lifts
    effective_from: int
    effective_until: int | None  # exclusive; None when open-ended (until lifted)
    recorded_at: int
    recorded_by: str
    decision_digest: bytes  # SHA-256 of the decision document
    case_number: str


@dataclass(frozen=True)
class BatchInfo:
    """An anchored batch as recorded on chain."""

    root: bytes
    lab_id: bytes
    key_id: bytes
    count: int
    index: int
    timestamp: int
    block_number: int


@dataclass(frozen=True)
class CertificateStatus:
    """On-chain status of a certificate digest."""

    state: CertificateState
    reason: int
    effective_time: int
    recorded_at: int
    substituted_by: bytes | None


@dataclass(frozen=True)
class KeyInfo:
    """A lab signing key and its window [valid_from, valid_until)."""

    key_id: bytes
    lab_id: bytes
    public_key: bytes
    valid_from: int
    valid_until: int
    registered_at: int


class ChainContracts:
    """The deployed contracts bound to a client."""

    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        self.client = client
        self.deployment = deployment
        self.trust: Contract = client.contract("TrustRegistry", deployment.trust_registry)
        self.certificates: Contract = client.contract("CertificateRegistry", deployment.certificate_registry)
        #: None on a deployment made before the CreditRegistry existed.
        self.credit: Contract | None = (
            client.contract("CreditRegistry", deployment.credit_registry) if deployment.credit_registry else None
        )
        self._events = _event_table(self.trust, self.certificates, *([self.credit] if self.credit else []))

    # ------------------------------------------------------------------ generic

    def transact(
        self, sender: TransactionSender, contract: Contract, function: str, *args: Any, key: str | None = None
    ) -> Receipt:
        """Send ``contract.function(*args)`` from ``sender`` (idempotent per ``key`` when given)."""
        return sender.send(contract.address, contract.encode_abi(function, list(args)), key=key)

    def call(self, contract: Contract, function: str, *args: Any, block: int | str = "latest") -> Any:
        """Call a view function (one raw ``eth_call``: :meth:`ChainClient.view`)."""
        return self.client.view(contract, function, *args, block=block)

    def events(self, receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
        """The TraceCert events of a receipt as ``(name, args)``, in log order."""
        decoded: list[tuple[str, dict[str, Any]]] = []
        for log in receipt.logs:
            topics = log["topics"]
            found = self._events.get(bytes(HexBytes(topics[0]))) if topics else None
            if found is None or Web3.to_checksum_address(log["address"]) != found[0].address:
                continue
            contract, name = found
            event = contract.events[name]().process_log(log_entry_formatter(log))
            decoded.append((name, dict(event["args"])))
        return decoded

    # ------------------------------------------------------------------ regulators and labs (TrustRegistry)

    def register_regulator(self, sender: TransactionSender, account: str, jurisdiction: int, name: str) -> Receipt:
        """Register a regional regulator under ``sender``'s regulator account."""
        return self.transact(
            sender, self.trust, "registerRegulator", Web3.to_checksum_address(account), jurisdiction, name
        )

    def register_lab(
        self,
        sender: TransactionSender,
        lab_id: bytes,
        kind: LabKind,
        jurisdiction: int,
        admin: str,
        name: str,
    ) -> Receipt:
        """Register a lab (by a regulator covering ``jurisdiction``)."""
        return self.transact(
            sender,
            self.trust,
            "registerLab",
            lab_id,
            int(kind),
            jurisdiction,
            Web3.to_checksum_address(admin),
            name,
        )

    def authorize_lab(
        self,
        sender: TransactionSender,
        lab_id: bytes,
        number: str,
        valid_from: int,
        valid_until: int,
        scope: Mapping[str, Activity],
    ) -> Receipt:
        """Record an authorization with its scope ``{category code: activities}``."""
        categories = [category_code(c) for c in scope]
        return self.transact(
            sender,
            self.trust,
            "authorizeLab",
            lab_id,
            number,
            valid_from,
            valid_until,
            categories,
            [int(a) for a in scope.values()],
        )

    def suspend_lab(self, sender: TransactionSender, lab_id: bytes, reason: int = 1) -> Receipt:
        """Suspend a lab."""
        return self.transact(sender, self.trust, "suspendLab", lab_id, reason)

    def reinstate_lab(self, sender: TransactionSender, lab_id: bytes) -> Receipt:
        """Reinstate a suspended lab."""
        return self.transact(sender, self.trust, "reinstateLab", lab_id)

    def revoke_lab(self, sender: TransactionSender, lab_id: bytes, reason: int = 1) -> Receipt:
        """Revoke a lab for good."""
        return self.transact(sender, self.trust, "revokeLab", lab_id, reason)

    def is_authorized(self, lab_id: bytes, category: str, activity: Activity, at: int) -> bool:
        """Was the lab authorized for ``category`` and ``activity`` at unix time ``at``?"""
        return bool(
            self.call(self.trust, "isAuthorized", lab_id, category_code(category), int(activity), chain_time(at))
        )

    def lab_name(self, lab_id: bytes) -> str | None:
        """The name the lab was registered under (its LabRegistered event; names never change), None if unknown.

        Raises:
            ChainUnavailable: the node could not be asked.
        """
        event = self.trust.events.LabRegistered()
        logs = revert_guard(
            lambda: event.get_logs(from_block=0, argument_filters={"labId": lab_id}), what="eth_getLogs"
        )
        return str(logs[0]["args"]["name"]) if logs else None

    def lab_at(self, lab_id: bytes, at: int) -> dict[str, Any]:
        """The lab's kind, jurisdiction, status and covering authorization at ``at``."""
        names = (
            "lab_number",
            "kind",
            "jurisdiction",
            "status",
            "authorized",
            "auth_index",
            "number",
            "valid_from",
            "valid_until",
        )
        return dict(zip(names, self.call(self.trust, "labAt", lab_id, chain_time(at)), strict=True))

    # ------------------------------------------------------------------ writers and keys (CertificateRegistry)

    def add_writer(self, sender: TransactionSender, lab_id: bytes, account: str) -> Receipt:
        """Allow ``account`` to anchor and revoke for the lab (by its admin or regulator)."""
        return self.transact(sender, self.certificates, "addWriter", lab_id, Web3.to_checksum_address(account))

    def remove_writer(self, sender: TransactionSender, lab_id: bytes, account: str) -> Receipt:
        """Withdraw a writer account."""
        return self.transact(sender, self.certificates, "removeWriter", lab_id, Web3.to_checksum_address(account))

    def register_key(
        self,
        sender: TransactionSender,
        lab_id: bytes,
        public_key: bytes,
        valid_from: int = 0,
        valid_until: int = 0,
    ) -> Receipt:
        """Register a lab's Ed25519 public key (by its admin); 0 means now / open-ended."""
        return self.transact(sender, self.certificates, "registerKey", lab_id, public_key, valid_from, valid_until)

    def close_key(self, sender: TransactionSender, key_id: bytes, valid_until: int = 0, reason: int = 1) -> Receipt:
        """Close a key's window at ``valid_until`` (0 = now)."""
        return self.transact(sender, self.certificates, "closeKey", key_id, valid_until, reason)

    def key(self, key_id: bytes) -> KeyInfo:
        """A registered key."""
        lab_id, public_key, valid_from, valid_until, registered_at = self.call(self.certificates, "key", key_id)
        return KeyInfo(key_id, bytes(lab_id), bytes(public_key), valid_from, valid_until, registered_at)

    def key_valid_at(self, lab_id: bytes, key_id: bytes, at: int) -> bool:
        """Was the key the lab's and inside its window at ``at``?"""
        return bool(self.call(self.certificates, "keyValidAt", lab_id, key_id, at))

    # ------------------------------------------------------------------ batches and certificates

    def anchor(self, sender: TransactionSender, root: bytes, count: int, key_id: bytes) -> Receipt:
        """Anchor a batch root; idempotent per root (a retry re-sends the journaled transaction)."""
        return self.transact(sender, self.certificates, "anchor", root, count, key_id, key=f"anchor:0x{root.hex()}")

    def revoke(
        self,
        sender: TransactionSender,
        lab_id: bytes,
        digest: bytes,
        reason: RevocationReason | int,
        effective_time: int = 0,
    ) -> Receipt:
        """Revoke the lab's certificate ``digest`` (by a writer of the lab or a regulator); idempotent per digest."""
        return self.transact(
            sender,
            self.certificates,
            "revoke",
            lab_id,
            digest,
            int(reason),
            effective_time,
            key=f"revoke:0x{lab_id.hex()}:0x{digest.hex()}",
        )

    def substitute(self, sender: TransactionSender, lab_id: bytes, digest: bytes, new_digest: bytes) -> Receipt:
        """Mark the lab's certificate ``digest`` as substituted by ``new_digest``; idempotent per digest."""
        return self.transact(
            sender,
            self.certificates,
            "substitute",
            lab_id,
            digest,
            new_digest,
            key=f"substitute:0x{lab_id.hex()}:0x{digest.hex()}",
        )

    def batch(self, root: bytes) -> BatchInfo:
        """An anchored batch (raises ContractReverted ``CertificateRegistryUnknownBatch``)."""
        lab_id, key_id, count, index, timestamp, block_number = self.call(self.certificates, "batch", root)
        return BatchInfo(root, bytes(lab_id), bytes(key_id), count, index, timestamp, block_number)

    def status(self, lab_id: bytes, digest: bytes) -> CertificateStatus:
        """On-chain status of the lab's certificate ``digest``."""
        state, reason, effective, recorded, substituted_by = self.call(self.certificates, "status", lab_id, digest)
        replacement = bytes(substituted_by)
        return CertificateStatus(
            CertificateState(state), reason, effective, recorded, replacement if any(replacement) else None
        )

    def check_certificate(self, digest: bytes, root: bytes, index: int, proof: Sequence[bytes]) -> dict[str, Any]:
        """The one-call verifier read: anchoring, lab, key, times and status of a certificate."""
        view = self.call(self.certificates, "checkCertificate", digest, (root, index, list(proof)))
        names = (
            "anchored",
            "lab_id",
            "key_id",
            "batch_index",
            "batch_size",
            "anchored_at",
            "block_number",
            "state",
            "reason",
            "effective_time",
            "recorded_at",
            "substituted_by",
        )
        return dict(zip(names, view, strict=True))


    # ------------------------------------------------------------------ the credit record (CreditRegistry)

    def _credit(self) -> Contract:
        if self.credit is None:
            raise DeploymentNotFound("this deployment has no CreditRegistry (deployed before the credit record)")
        return self.credit

    def record_sanction(
        self,
        sender: TransactionSender,
        subject: bytes | str,
        kind: SanctionKind,
        reason: SanctionReason,
        case_number: str,
        decision_digest: bytes,
        effective_from: int,
        effective_until: int | None = None,
    ) -> Receipt:
        """Record a sanction against a lab (``subject`` its 32-byte lab id) or an enterprise (``subject`` its USCI),
        by an active regulator over it. Idempotent per subject and case number."""
        function, target = (
            ("recordLabSanction", subject) if isinstance(subject, bytes) else ("recordEnterpriseSanction", subject)
        )
        key_subject = f"0x{subject.hex()}" if isinstance(subject, bytes) else subject
        return self.transact(
            sender,
            self._credit(),
            function,
            target,
            int(kind),
            int(reason),
            case_number,
            decision_digest,
            chain_time(effective_from),
            0 if effective_until is None else chain_time(effective_until),
            key=f"sanction:{key_subject}:{case_number}:{int(kind)}",
        )

    def lift_sanction(
        self,
        sender: TransactionSender,
        subject: bytes,
        index: int,
        reason: SanctionReason,
        case_number: str,
        decision_digest: bytes,
        effective_from: int,
    ) -> Receipt:
        """Lift entry ``index`` of ``subject`` from ``effective_from`` on (a new LIFTING entry)."""
        return self.transact(
            sender,
            self._credit(),
            "lift",
            subject,
            index,
            int(reason),
            case_number,
            decision_digest,
            chain_time(effective_from),
            key=f"lift:0x{subject.hex()}:{index}",
        )

    def sanctions(self, subject: bytes) -> list[Sanction] | None:
        """The whole credit record of ``subject``, oldest first; None when the deployment has no CreditRegistry."""
        if self.credit is None:
            return None
        rows = self.call(self.credit, "entries", subject)
        return [_sanction(subject, i, row) for i, row in enumerate(rows)]


    # ------------------------------------------------------------------ random inspection draws (CreditRegistry)

    def commit_draw(self, sender: TransactionSender, commitment: bytes, jurisdiction: int) -> Receipt:
        """Commit to a draw's inputs (their digest) as a regulator covering ``jurisdiction``."""
        return self.transact(
            sender, self._credit(), "commitDraw", commitment, jurisdiction, key=f"draw:0x{commitment.hex()}"
        )

    def draw_block(self, commitment: bytes) -> int:
        """The block the commitment was recorded in (0: never)."""
        return int(self.call(self._credit(), "drawBlock", commitment))

    def draw_committer(self, commitment: bytes, block: int) -> str | None:
        """The regulator whose DrawCommitted event of ``commitment`` is in ``block``, if there is one."""
        found = self.draw_commitment_log(commitment, block)
        return found[0] if found else None

    def draw_commitment_log(self, commitment: bytes, block: int) -> tuple[str, str] | None:
        """(regulator, transaction hash) of the DrawCommitted event of ``commitment`` in ``block``, if any."""
        credit = self._credit()
        topic = "0x" + keccak(text="DrawCommitted(address,uint32,bytes32)").hex()
        logs = self.client.rpc(
            "eth_getLogs",
            [{"fromBlock": hex(block), "toBlock": hex(block), "address": credit.address,
              "topics": [topic, None, "0x" + commitment.hex()]}],
        )  # fmt: skip
        if not logs:
            return None
        return Web3.to_checksum_address("0x" + str(logs[0]["topics"][1])[-40:]), str(logs[0]["transactionHash"])

    def block_hash(self, number: int) -> bytes | None:
        """The hash of block ``number``, or None if it is not mined yet."""
        block = self.client.rpc("eth_getBlockByNumber", [hex(number), False])
        return bytes(HexBytes(block["hash"])) if block else None


def _sanction(subject: bytes, index: int, row: Sequence[Any]) -> Sanction:
    subject_kind, kind, reason, region, lifts, start, until, recorded_at, by, digest, case = row
    return Sanction(
        subject=subject,
        index=index,
        subject_kind=SubjectKind(subject_kind),
        kind=SanctionKind(kind),
        reason=SanctionReason(reason),
        region=int(region),
        lifts=int(lifts) - 1 if lifts else None,
        effective_from=int(start),
        effective_until=None if until == _OPEN else int(until),
        recorded_at=int(recorded_at),
        recorded_by=Web3.to_checksum_address(by),
        decision_digest=bytes(digest),
        case_number=str(case),
    )


def _event_table(*contracts: Contract) -> dict[bytes, tuple[Contract, str]]:
    table: dict[bytes, tuple[Contract, str]] = {}
    for contract in contracts:
        for item in contract.abi:
            if item["type"] == "event":
                types = ",".join(canonical_type(i) for i in item["inputs"])
                table[keccak(text=f"{item['name']}({types})")] = (contract, item["name"])
    return table
