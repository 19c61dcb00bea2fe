"""The contracts' events as the index takes them in: decoded from raw logs with the committed ABIs, and turned into
table rows by one small handler per event (:data:`HANDLERS`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from sqlalchemy import Table

from tracecert.chain.compile import load_artifact
from tracecert.chain.deploy import Deployment
from tracecert.chain.errors import ChainUnavailable, canonical_type
from tracecert.chain.types import CertificateState, RevocationReason
from verifier.index.model import ContentState, IndexMismatch
from verifier.index.schema import (
    authorizations_table,
    batches_table,
    key_closures_table,
    keys_table,
    lab_admins_table,
    lab_statuses_table,
    labs_table,
    regulator_changes_table,
    regulators_table,
    scopes_table,
    statuses_table,
    writers_table,
)

__all__ = ["HANDLERS", "EventSpec", "Rows", "decode_logs", "event_specs"]

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class EventSpec:
    """How to decode one event of one contract from a log."""

    name: str
    address: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) in topic order
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


def event_specs(addresses: Mapping[str, str]) -> dict[tuple[str, bytes], EventSpec]:
    """(contract address, topic0) → how to decode, for every event of the TraceCert contracts.

    Decoded here rather than by web3's contract event processing: the index catches up thousands of logs per
    range, and a decoder built once from the ABIs is a plain ``abi_decode`` per log.
    """
    specs: dict[tuple[str, bytes], EventSpec] = {}
    for contract, address in addresses.items():
        for item in load_artifact(contract)["abi"]:
            if item["type"] != "event":
                continue
            types = ",".join(canonical_type(i) for i in item["inputs"])
            topic = keccak(text=f"{item['name']}({types})")
            indexed = tuple((i["name"], canonical_type(i)) for i in item["inputs"] if i["indexed"])
            data = [i for i in item["inputs"] if not i["indexed"]]
            specs[(address.lower(), topic)] = EventSpec(
                item["name"],
                address.lower(),
                indexed,
                tuple(i["name"] for i in data),
                tuple(canonical_type(i) for i in data),
            )
    return specs


def _topic_value(kind: str, topic: bytes) -> Any:
    if kind == "address":
        return "0x" + topic[12:].hex()
    if kind.startswith(("uint", "int")):
        return int.from_bytes(topic, "big")
    return topic  # bytes32


def _decode(spec: EventSpec, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
    args = {name: _topic_value(kind, topic) for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True)}
    values = abi_decode(list(spec.data_types), data) if spec.data_types else ()
    for name, kind, value in zip(spec.data_names, spec.data_types, values, strict=True):
        args[name] = value.lower() if kind == "address" else value
    return args


@dataclass
class Rows:
    """Rows decoded from one block range, per table, plus the blocks they came from."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    blocks: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    events: int = 0

    def add(self, table: Table, row: dict[str, Any]) -> None:
        """Add a row to ``table``."""
        self.tables.setdefault(table.name, []).append(row)


@dataclass(frozen=True)
class Event:
    """One decoded event: its arguments, where it is (``at``: block number and log index), its block's time."""

    name: str
    args: dict[str, Any]
    at: dict[str, int]
    now: int
    tx_hash: str
    deployment: Deployment


def _b(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def decode_logs(
    logs: Iterable[dict[str, Any]],
    specs: Mapping[tuple[str, bytes], EventSpec],
    deployment: Deployment,
    headers: Callable[[Sequence[int]], list[dict[str, Any] | None]],
) -> Rows:
    """Decode one range's logs into rows (ignoring other contracts' and removed logs). ``headers`` fetches block
    headers for nodes that do not put ``blockTimestamp`` in logs.

    Raises:
        ChainUnavailable: a block vanished while its header was asked for.
        IndexMismatch: the TrustRegistry is rooted at another national authority than the deployment's.
    """
    wanted: list[tuple[EventSpec, list[bytes], dict[str, Any]]] = []
    hashes: dict[int, bytes] = {}
    stamps: dict[int, int] = {}
    for log in logs:
        topics = [_b(t) for t in log["topics"]]
        spec = specs.get((str(log["address"]).lower(), topics[0])) if topics else None
        if spec is None or log.get("removed"):
            continue
        wanted.append((spec, topics, log))
        block = int(log["blockNumber"], 16)
        if block not in hashes:
            hashes[block] = _b(log["blockHash"])
            if log.get("blockTimestamp"):
                stamps[block] = int(log["blockTimestamp"], 16)
    missing = sorted(set(hashes) - set(stamps))
    if missing:
        for number, header in zip(missing, headers(missing), strict=True):
            if header is None:
                raise ChainUnavailable(f"block {number} vanished while indexing")
            stamps[number] = int(header["timestamp"], 16)
    rows = Rows(blocks={n: (h, stamps[n]) for n, h in hashes.items()})
    for spec, topics, log in wanted:
        block = int(log["blockNumber"], 16)
        handler = HANDLERS.get(spec.name)
        if handler is None:
            continue  # an event the index has no use for
        rows.events += 1
        event = Event(
            spec.name,
            _decode(spec, topics, _b(log["data"])),
            {"block_number": block, "log_index": int(log["logIndex"], 16)},
            rows.blocks[block][1],
            str(log["transactionHash"]).lower(),
            deployment,
        )
        handler(rows, event)
    return rows


# ------------------------------------------------------------------------------------------------ one per event


def _regulator_registered(rows: Rows, e: Event) -> None:
    a, d = e.args, e.deployment
    if a["parent"] == ZERO_ADDRESS and a["account"] != d.national_authority.lower():
        raise IndexMismatch(
            f"the TrustRegistry at {d.trust_registry} is rooted at {a['account']}, "
            f"not at the trusted national authority {d.national_authority}"
        )
    row = {"account": a["account"], "parent": a["parent"], "jurisdiction": a["jurisdiction"], "name": a["name"]}
    rows.add(regulators_table, row | e.at)


def _regulator_status_changed(rows: Rows, e: Event) -> None:
    a = e.args
    rows.add(regulator_changes_table, {"account": a["account"], "active": a["active"], "by": a["by"]} | e.at)


def _lab_registered(rows: Rows, e: Event) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "lab_number": a["labNumber"],
        "kind": a["kind"],
        "jurisdiction": a["jurisdiction"],
        "admin": a["admin"],
        "regulator": a["regulator"],
        "name": a["name"],
        "registered_at": e.now,
    }
    rows.add(labs_table, row | e.at)


def _lab_authorized(rows: Rows, e: Event) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "auth_index": a["authIndex"],
        "number": a["number"],
        "valid_from": a["validFrom"],
        "valid_until": a["validUntil"],
        "regulator": a["regulator"],
        "recorded_at": e.now,
    }
    rows.add(authorizations_table, row | e.at)
    scope: dict[bytes, int] = {}
    for category, bits in zip(a["categories"], a["activities"], strict=True):
        scope[bytes(category)] = bits  # a repeated category: the contract keeps the last
    for category, bits in scope.items():
        rows.add(
            scopes_table,
            {
                "lab_id": a["labId"],
                "auth_index": a["authIndex"],
                "category": category,
                "activities": bits,
                "block_number": e.at["block_number"],
            },
        )


def _lab_status_changed(rows: Rows, e: Event) -> None:
    a = e.args
    row = {"lab_id": a["labId"], "since": e.now, "status": a["status"], "reason": a["reason"], "by": a["by"]}
    rows.add(lab_statuses_table, row | e.at)


def _lab_admin_changed(rows: Rows, e: Event) -> None:
    a = e.args
    rows.add(lab_admins_table, {"lab_id": a["labId"], "admin": a["admin"], "by": a["by"]} | e.at)


def _writer_changed(rows: Rows, e: Event) -> None:
    a = e.args
    row = {"lab_id": a["labId"], "account": a["account"], "added": e.name == "WriterAdded", "by": a["by"]}
    rows.add(writers_table, row | e.at)


def _key_registered(rows: Rows, e: Event) -> None:
    a = e.args
    row = {
        "key_id": a["keyId"],
        "lab_id": a["labId"],
        "public_key": a["publicKey"],
        "key_number": a["keyNumber"],
        "valid_from": a["validFrom"],
        "valid_until": a["validUntil"],
        "registered_at": e.now,
    }
    rows.add(keys_table, row | e.at)


def _key_window_closed(rows: Rows, e: Event) -> None:
    a = e.args
    row = {"key_id": a["keyId"], "valid_until": a["validUntil"], "reason": a["reason"], "by": a["by"]}
    rows.add(key_closures_table, row | e.at)


def _batch_anchored(rows: Rows, e: Event) -> None:
    a = e.args
    row = {
        "root": a["root"],
        "lab_id": a["labId"],
        "key_id": a["keyId"],
        "size": a["count"],
        "batch_index": a["index"],
        "anchored_at": e.now,
        "tx_hash": e.tx_hash,
        "contents": ContentState.PENDING.value,
        "attempts": 0,
        "problems": "[]",
    }
    rows.add(batches_table, row | e.at)


def _certificate_revoked(rows: Rows, e: Event) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "digest": a["digest"],
        "state": int(CertificateState.REVOKED),
        "reason": a["reason"],
        "effective_time": a["effectiveTime"],
        "recorded_at": e.now,
        "substituted_by": None,
    }
    rows.add(statuses_table, row | e.at)


def _certificate_substituted(rows: Rows, e: Event) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "digest": a["digest"],
        "state": int(CertificateState.SUBSTITUTED),
        "reason": int(RevocationReason.SUPERSEDED),  # CertificateRegistry.REASON_SUPERSEDED
        "effective_time": e.now,
        "recorded_at": e.now,
        "substituted_by": a["newDigest"],
    }
    rows.add(statuses_table, row | e.at)


#: The events the index keeps, each with the handler that turns it into rows; any other event is not counted.
HANDLERS: dict[str, Callable[[Rows, Event], None]] = {
    "RegulatorRegistered": _regulator_registered,
    "RegulatorStatusChanged": _regulator_status_changed,
    "LabRegistered": _lab_registered,
    "LabAuthorized": _lab_authorized,
    "LabStatusChanged": _lab_status_changed,
    "LabAdminChanged": _lab_admin_changed,
    "WriterAdded": _writer_changed,
    "WriterRemoved": _writer_changed,
    "KeyRegistered": _key_registered,
    "KeyWindowClosed": _key_window_closed,
    "BatchAnchored": _batch_anchored,
    "CertificateRevoked": _certificate_revoked,
    "CertificateSubstituted": _certificate_substituted,
}
