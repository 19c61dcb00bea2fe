"""A JSON-RPC connection to any EVM node, with contract handles and revert decoding.

Everything that talks to the node goes through :class:`ChainClient`, so transport failures surface as
:class:`~tracecert.chain.errors.ChainUnavailable` and reverts as :class:`~tracecert.chain.errors.ContractReverted`
with their custom error names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import requests
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError

from tracecert.chain.compile import load_artifact
from tracecert.chain.errors import (
    ChainError,
    ChainUnavailable,
    TransactionFailed,
    decode_revert,
)

__all__ = ["ChainClient", "revert_guard"]

T = TypeVar("T")

_TRANSPORT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ConnectionError,
    TimeoutError,
)


def revert_guard(action: Callable[[], T], *, what: str = "call") -> T:
    """Run a web3 action, turning transport failures and reverts into chain-layer errors.

    Raises:
        ChainUnavailable: the node did not answer.
        ContractReverted: the call reverted (custom error decoded).
        ChainError: any other JSON-RPC error.
    """
    try:
        return action()
    except _TRANSPORT_ERRORS as exc:
        raise ChainUnavailable(f"{what}: JSON-RPC node unreachable ({type(exc).__name__})") from exc
    except (ContractCustomError, ContractPanicError, ContractLogicError) as exc:
        data = exc.data if isinstance(exc.data, str | bytes) else None
        raise decode_revert(data) from exc
    except Web3RPCError as exc:
        raise ChainError(f"{what}: {exc}") from exc


class ChainClient:
    """A connection to one JSON-RPC endpoint.

    Args:
        url: the node's HTTP JSON-RPC URL.
        timeout: seconds per request.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        self._head: tuple[float, int] | None = None
        self._head_lock = threading.Lock()

    @cached_property
    def chain_id(self) -> int:
        """The chain id (asked once)."""
        return revert_guard(lambda: int(self.w3.eth.chain_id), what="eth_chainId")

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC request; returns ``result``.

        Raises:
            ChainUnavailable: transport failure.
            ContractReverted: the node reported a revert with data.
            ChainError: any other JSON-RPC error response.
        """
        try:
            response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        except _TRANSPORT_ERRORS as exc:
            raise ChainUnavailable(f"{method}: JSON-RPC node unreachable ({type(exc).__name__})") from exc
        error = response.get("error")
        if error:
            data = error.get("data") if isinstance(error, dict) else None
            if isinstance(data, dict):
                data = data.get("data")
            if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
                raise decode_revert(data)
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            raise TransactionFailed(f"{method}: {message}")
        return response.get("result")

    def head(self, *, max_age: float = 1.0, at_least: int | None = None) -> int:
        """The latest block number, reused for up to ``max_age`` seconds, asked anew when the reused one is below
        ``at_least`` (a block newer than it may have come since). When the node cannot be asked, the last number it
        gave, if any.

        Raises:
            ChainUnavailable: the node never answered yet.
        """
        cached = self._head
        fresh = cached is not None and time.monotonic() - cached[0] <= max_age
        if cached is not None and fresh and (at_least is None or cached[1] >= at_least):
            return cached[1]
        try:
            number = int(self.rpc("eth_blockNumber", []), 16)
        except ChainError:
            if cached is None:
                raise
            return cached[1]
        with self._head_lock:
            self._head = (time.monotonic(), number)
        return number

    def contract(self, name: str, address: str) -> Contract:
        """A web3 contract handle for a compiled contract at ``address``."""
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name)["abi"])

    def call(self, function: Any, *, block: int | str = "latest") -> Any:
        """Call a view function (``contract.functions.f(args)``), decoding reverts."""
        return revert_guard(lambda: function.call(block_identifier=block), what="eth_call")

    def block_timestamp(self, block: int | str = "latest") -> int:
        """Timestamp of a block."""
        return int(revert_guard(lambda: self.w3.eth.get_block(block)["timestamp"], what="eth_getBlockByNumber"))  # type: ignore[arg-type]

    def balance(self, address: str) -> int:
        """Balance in wei."""
        return int(revert_guard(lambda: self.w3.eth.get_balance(Web3.to_checksum_address(address))))

    def code(self, address: str) -> bytes:
        """Runtime code at an address (empty when none)."""
        return bytes(revert_guard(lambda: self.w3.eth.get_code(Web3.to_checksum_address(address))))

    def set_balance(self, address: ChecksumAddress | str, wei: int) -> None:
        """Give an account funds on a local development node (Anvil/Hardhat only)."""
        self.rpc("anvil_setBalance", [Web3.to_checksum_address(address), hex(wei)])
