"""Errors of the chain layer, and decoding of contract reverts to their custom error names.

Exception tree::

    ChainError                          code CHAIN_ERROR
    ├── ChainUnavailable (ConnectionError)   CHAIN_UNAVAILABLE      the JSON-RPC node cannot be reached
    ├── NodeStartFailed                      NODE_START_FAILED      a local Anvil node did not come up
    ├── DeploymentNotFound (LookupError)     DEPLOYMENT_NOT_FOUND   no usable deployment for this chain
    ├── ContractReverted                     CONTRACT_REVERTED      a call or transaction reverted; ``error`` names it
    ├── TransactionFailed                    TX_FAILED              mined with status 0 without revert data, or refused
    │   └── NonceGap                         NONCE_GAP              behind nonces the node lost; retired, sign anew
    └── ReceiptTimeout (TimeoutError)        TX_TIMEOUT             no confirmed receipt in time; the tx may still land
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from tracecert.chain.compile import CONTRACTS, load_artifact

__all__ = [
    "ChainError",
    "ChainUnavailable",
    "ContractReverted",
    "DeploymentNotFound",
    "NodeStartFailed",
    "NonceGap",
    "ReceiptTimeout",
    "TransactionFailed",
    "canonical_type",
    "decode_revert",
]


class ChainError(Exception):
    """Base of every chain-layer error; ``code`` is a stable machine code."""

    code = "CHAIN_ERROR"


class ChainUnavailable(ChainError, ConnectionError):
    """The JSON-RPC endpoint did not answer (refused, reset, timed out)."""

    code = "CHAIN_UNAVAILABLE"


class NodeStartFailed(ChainError):
    """A managed local node (Anvil) did not start or answer in time."""

    code = "NODE_START_FAILED"


class DeploymentNotFound(ChainError, LookupError):
    """No deployment file, or the recorded contracts are not on this chain."""

    code = "DEPLOYMENT_NOT_FOUND"


class TransactionFailed(ChainError):
    """A transaction was refused by the node, or mined with status 0 and no revert data."""

    code = "TX_FAILED"

    def __init__(self, message: str, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class NonceGap(TransactionFailed):
    """The transaction's nonce is above the account's next nonce on the node, and nothing fills the gap: the node
    lost transactions of the account (restarted from an older state, or reorganized). The journal entry is retired
    (DROPPED); a retry with the same key signs the transaction anew with a fresh nonce."""

    code = "NONCE_GAP"


class ReceiptTimeout(ChainError, TimeoutError):
    """No receipt (with the required confirmations) in time. The transaction is journaled and may still land."""

    code = "TX_TIMEOUT"

    def __init__(self, message: str, tx_hash: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class ContractReverted(ChainError):
    """A contract call reverted. ``error`` is the custom error name (e.g. ``TrustRegistryLabNotActive``),
    ``args`` its decoded arguments; ``Error`` / ``Panic`` for string reverts and panics, ``Unknown`` otherwise."""

    code = "CONTRACT_REVERTED"

    def __init__(self, error: str, args: tuple[Any, ...] = (), data: bytes = b"", tx_hash: str | None = None):
        rendered = ", ".join("0x" + a.hex() if isinstance(a, bytes) else repr(a) for a in args)
        super().__init__(f"{error}({rendered})")
        self.error = error
        self.args_decoded = args
        self.data = data
        self.tx_hash = tx_hash


@cache
def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {
        keccak(text="Error(string)")[:4]: ("Error", ["string"]),
        keccak(text="Panic(uint256)")[:4]: ("Panic", ["uint256"]),
    }
    for name in CONTRACTS:
        for item in load_artifact(name)["abi"]:
            if item["type"] != "error":
                continue
            types = [canonical_type(i) for i in item["inputs"]]
            table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


def canonical_type(item: Mapping[str, Any]) -> str:
    """The canonical ABI type of an ABI input, tuples spelled out (as in signatures)."""
    if item["type"].startswith("tuple"):
        return "(" + ",".join(canonical_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return str(item["type"])


def decode_revert(data: bytes | str | None, tx_hash: str | None = None) -> ContractReverted:
    """Decode revert data (selector + ABI-encoded arguments) to a :class:`ContractReverted`."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    data = data or b""
    entry = _error_table().get(data[:4])
    if entry is None:
        return ContractReverted("Unknown", (), data, tx_hash)
    name, types = entry
    try:
        values = abi_decode(types, data[4:])
    except Exception:  # malformed revert data: keep the name, drop the arguments
        return ContractReverted(name, (), data, tx_hash)
    args = tuple(to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True))
    return ContractReverted(name, args, data, tx_hash)
