"""The contracts' events as the index reads them: raw ``eth_getLogs`` entries decoded into typed :class:`Event`\\ s
with a decoder built once from the committed ABIs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from tracecert.chain.compile import load_artifact
from tracecert.chain.errors import ChainUnavailable, canonical_type

__all__ = ["Event", "EventSpec", "Logs", "decode_logs", "event_specs", "hex_bytes"]


@dataclass(frozen=True)
class EventSpec:
    """How to decode one event of one contract from a log."""

    name: str
    address: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) in topic order
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


def event_specs(addresses: Mapping[str, str]) -> dict[tuple[str, bytes], EventSpec]:
    """(contract address, topic0) → how to decode, for every event of the named contracts (artifact name →
    address).

    Not web3's contract event processing (what :meth:`tracecert.chain.contracts.ChainContracts.events` uses for a
    receipt's few logs): a catch-up decodes thousands of logs, and on 20,000 raw logs (mostly ``BatchAnchored``)
    ``process_log`` on each formatted log took 15-20 times as long as a plain ``abi_decode`` with these specs
    (about 1 ms a log against 50-90 µs), for the same arguments; web3's decoding alone, formatting left out, still
    7-14 times.
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
    # Addresses in lower case, as the index stores and compares them.
    args = {name: _topic_value(kind, topic) for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True)}
    values = abi_decode(list(spec.data_types), data) if spec.data_types else ()
    for name, kind, value in zip(spec.data_names, spec.data_types, values, strict=True):
        args[name] = value.lower() if kind == "address" else value
    return args


@dataclass(frozen=True)
class Event:
    """One decoded event: its arguments by ABI name, where it is (``at``: block number and log index), its block's
    timestamp (``now``) and its transaction."""

    name: str
    args: dict[str, Any]
    at: dict[str, int]
    now: int
    tx_hash: str


@dataclass
class Logs:
    """One block range's events in log order, and the blocks they came from (number → hash, timestamp)."""

    events: list[Event]
    blocks: dict[int, tuple[bytes, int]]


def hex_bytes(value: str) -> bytes:
    """Bytes from JSON-RPC hex, with or without ``0x``.

    Raises:
        ValueError: not hex.
    """
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def decode_logs(
    logs: Iterable[dict[str, Any]],
    specs: Mapping[tuple[str, bytes], EventSpec],
    headers: Callable[[Sequence[int]], list[dict[str, Any] | None]],
) -> Logs:
    """Decode one range's logs (ignoring other contracts' and removed logs). ``headers`` fetches block headers for
    nodes that do not put ``blockTimestamp`` in logs.

    Raises:
        ChainUnavailable: a block vanished while its header was asked for.
    """
    wanted: list[tuple[EventSpec, list[bytes], dict[str, Any]]] = []
    hashes: dict[int, bytes] = {}
    stamps: dict[int, int] = {}
    for log in logs:
        topics = [hex_bytes(t) for t in log["topics"]]
        spec = specs.get((str(log["address"]).lower(), topics[0])) if topics else None
        if spec is None or log.get("removed"):
            continue
        wanted.append((spec, topics, log))
        block = int(log["blockNumber"], 16)
        if block not in hashes:
            hashes[block] = hex_bytes(log["blockHash"])
            if log.get("blockTimestamp"):
                stamps[block] = int(log["blockTimestamp"], 16)
    missing = sorted(set(hashes) - set(stamps))
    if missing:
        for number, header in zip(missing, headers(missing), strict=True):
            if header is None:
                raise ChainUnavailable(f"block {number} vanished while indexing")
            stamps[number] = int(header["timestamp"], 16)
    events = []
    for spec, topics, log in wanted:
        block = int(log["blockNumber"], 16)
        events.append(
            Event(
                spec.name,
                _decode(spec, topics, hex_bytes(log["data"])),
                {"block_number": block, "log_index": int(log["logIndex"], 16)},
                stamps[block],
                str(log["transactionHash"]).lower(),
            )
        )
    return Logs(events, {n: (h, stamps[n]) for n, h in hashes.items()})
