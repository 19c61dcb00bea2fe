"""A JSON-RPC connection to any EVM node, with contract handles and revert decoding.

Everything that talks to the node goes through :class:`ChainClient`, so transport failures surface as
:class:`~tracecert.chain.errors.ChainUnavailable` and reverts as :class:`~tracecert.chain.errors.ContractReverted`
with their custom error names.

A client may be given several URLs of the same chain (a list, or one string with commas): it uses one at a time and
fails over to the next when a request meets a transport failure (:class:`FailoverProvider`). Every URL must serve
the same chain id, checked at its first use; one serving another chain is refused and never used.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar, cast

import requests
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress, HexStr
from eth_utils.abi import abi_to_signature, function_abi_to_4byte_selector, get_abi_output_types
from hexbytes import HexBytes
from urllib3.exceptions import NewConnectionError
from web3 import Web3
from web3._utils.abi import map_abi_data
from web3._utils.contracts import encode_abi
from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract import Contract
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    Web3RPCError,
)
from web3.providers import HTTPProvider, JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from tracecert.chain.compile import load_artifact
from tracecert.chain.config import split_urls
from tracecert.chain.errors import (
    ChainError,
    ChainUnavailable,
    TransactionFailed,
    decode_revert,
)

__all__ = ["ChainClient", "ChainIdMismatch", "Endpoint", "FailoverProvider", "revert_guard", "split_urls"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSPORT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ConnectionError,
    TimeoutError,
)

#: Failures of one endpoint that send a request on to the next one: transport failures, an answer cut short, and
#: a 5xx from a proxy in front of a node (a 4xx is an answer).
_ENDPOINT_ERRORS = (*_TRANSPORT_ERRORS, requests.exceptions.ChunkedEncodingError, requests.exceptions.HTTPError)

#: Prefixes of methods that change a node's state. When such a request may have reached the node before failing, it
#: is not repeated on another endpoint: the caller decides (the sender re-broadcasts the same signed bytes).
_STATEFUL_PREFIXES = ("eth_sendRawTransaction", "eth_sendTransaction", "evm_", "anvil_", "hardhat_", "miner_")


class ChainIdMismatch(ChainUnavailable):
    """Every usable JSON-RPC URL was refused because it serves another chain id than the client's."""

    code = "CHAIN_ID_MISMATCH"


def revert_guard(action: Callable[[], T], *, what: str = "call") -> T:
    """Run a web3 action, turning transport failures and reverts into chain-layer errors.

    Raises:
        ChainUnavailable: the node did not answer.
        ContractReverted: the call reverted (custom error decoded).
        ChainError: any other JSON-RPC error.
    """
    try:
        return action()
    except ChainUnavailable:
        raise
    except _TRANSPORT_ERRORS as exc:
        raise ChainUnavailable(f"{what}: JSON-RPC node unreachable ({type(exc).__name__})") from exc
    except (ContractCustomError, ContractPanicError, ContractLogicError) as exc:
        data = exc.data if isinstance(exc.data, str | bytes) else None
        raise decode_revert(data) from exc
    except Web3RPCError as exc:
        raise ChainError(f"{what}: {exc}") from exc


@dataclass(frozen=True)
class _View:
    """What :meth:`ChainClient.view` keeps of a view function: its selector, ABI entry and output types."""

    selector: HexStr
    abi: Any
    outputs: tuple[str, ...]
    addresses: bool  # whether an output holds an address (which web3 checksums)


@dataclass
class Endpoint:
    """One JSON-RPC URL of a :class:`FailoverProvider` and what is known of it."""

    url: str
    provider: HTTPProvider = field(repr=False)
    #: The chain id it served at its first use (None: not asked yet).
    chain_id: int | None = None
    #: ``time.monotonic()`` before which it is tried only after the others (it failed lately).
    down_until: float = 0.0
    #: Why it is never used (another chain id), or None.
    refused: str | None = None
    #: Requests that failed on it.
    failures: int = 0

    def is_down(self, now: float | None = None) -> bool:
        """Whether it failed within its backoff."""
        return (time.monotonic() if now is None else now) < self.down_until


class FailoverProvider(JSONBaseProvider):
    """A web3 provider over several JSON-RPC URLs of one chain, one active at a time.

    A request goes to the active endpoint. When it fails there with a transport failure (refused, reset, timed
    out, an answer cut short, a 5xx), that endpoint is marked down for ``backoff`` seconds and the same request is
    sent to the next one (endpoints up first, in order from the active one, then those down, the soonest back
    first); the first that answers becomes the active one. When all fail: :class:`ChainUnavailable`.

    A request that changes state (``eth_sendRawTransaction``, ``evm_*``, ``anvil_*``...) is sent on to the next
    endpoint only when it surely never left (connection refused or not established); otherwise the endpoint is
    marked down and the failure raised, and the caller decides: the transaction sender re-sends the same signed
    bytes, which the node reports as known or mined, never as a second transaction.

    Each endpoint's chain id is asked at its first use and must equal ``chain_id`` (default: the first one learned);
    an endpoint serving another chain is refused for good, with an error logged, and never used.

    Args:
        urls: the endpoints, in order of preference.
        timeout: seconds per request to one endpoint.
        backoff: seconds an endpoint that failed is tried only after the others.
        chain_id: the chain id every endpoint must serve (None: the first one learned).
    """

    def __init__(
        self, urls: Sequence[str], *, timeout: float = 10.0, backoff: float = 5.0, chain_id: int | None = None
    ) -> None:
        super().__init__()
        self.endpoints = [
            Endpoint(url, HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None))
            for url in split_urls(urls)
        ]
        self.backoff = backoff
        self.chain_id = chain_id
        self.active = 0
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return f"RPC connection {', '.join(e.url for e in self.endpoints)} (active {self.endpoints[self.active].url})"

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """Send one request, failing over between endpoints (see the class).

        Raises:
            ChainUnavailable: no endpoint answered (:class:`ChainIdMismatch` when the only ones left serve another
                chain).
        """
        return cast(RPCResponse, self._failover(method, lambda p: p.make_request(method, params)))

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        """Send a batch (reads only), failing over between endpoints as :meth:`make_request` does."""
        method = RPCEndpoint(",".join(sorted({m for m, _ in batch_requests})))
        return cast(
            "list[RPCResponse] | RPCResponse", self._failover(method, lambda p: p.make_batch_request(batch_requests))
        )

    def is_connected(self, show_traceback: bool = False) -> bool:
        """Whether some endpoint answers."""
        try:
            self.make_request(RPCEndpoint("web3_clientVersion"), [])
        except ChainUnavailable:
            if show_traceback:
                raise
            return False
        return True

    # ---------------------------------------------------------------- internals

    def _failover(self, method: str, send: Callable[[HTTPProvider], Any]) -> Any:
        stateful = method.startswith(_STATEFUL_PREFIXES)
        failures: list[str] = []
        for endpoint in self._order():
            sent = False
            try:
                if not self._checked(endpoint):
                    failures.append(f"{endpoint.url}: {endpoint.refused}")
                    continue
                sent = True
                answer = send(endpoint.provider)
            except _ENDPOINT_ERRORS as exc:
                if isinstance(exc, requests.exceptions.HTTPError) and not _server_error(exc):
                    raise
                self._mark_down(endpoint, method, exc)
                failures.append(f"{endpoint.url}: {type(exc).__name__}")
                if stateful and sent and not _never_sent(exc):
                    raise ChainUnavailable(
                        f"{method}: JSON-RPC node unreachable ({type(exc).__name__} at {endpoint.url}); "
                        "not repeated elsewhere, it may have reached the node"
                    ) from exc
                continue
            self._mark_up(endpoint)
            return answer
        if all(e.refused for e in self.endpoints):
            raise ChainIdMismatch(f"{method}: no JSON-RPC URL serves chain {self.chain_id}: {'; '.join(failures)}")
        raise ChainUnavailable(f"{method}: JSON-RPC node unreachable at every URL ({'; '.join(failures)})")

    def _order(self) -> list[Endpoint]:
        """Endpoints to try: those up from the active one on, then those down, the soonest back first."""
        with self._lock:
            now = time.monotonic()
            count = len(self.endpoints)
            rotated = [self.endpoints[(self.active + i) % count] for i in range(count)]
            usable = [e for e in rotated if e.refused is None]
            up = [e for e in usable if not e.is_down(now)]
            down = sorted((e for e in usable if e.is_down(now)), key=lambda e: e.down_until)
            return up + down

    def _checked(self, endpoint: Endpoint) -> bool:
        """Whether ``endpoint`` serves the client's chain (asked at its first use); False once refused.

        Raises:
            the transport failures of asking it.
        """
        if endpoint.chain_id is not None:
            return True
        if endpoint.refused is not None:
            return False
        answer = endpoint.provider.make_request(RPCEndpoint("eth_chainId"), [])
        result = answer.get("result")
        try:
            chain_id = int(result, 16) if isinstance(result, str) else int(cast(int, result))
        except (TypeError, ValueError):
            chain_id = None
        with self._lock:
            if chain_id is None:
                endpoint.refused = f"no chain id in its answer to eth_chainId ({answer.get('error') or result!r})"
            elif self.chain_id is None:
                self.chain_id = chain_id
            elif chain_id != self.chain_id:
                endpoint.refused = f"serves chain id {chain_id}, not {self.chain_id}"
            if endpoint.refused is not None:
                logger.error("JSON-RPC URL %s refused, never used: it %s", endpoint.url, endpoint.refused)
                return False
            endpoint.chain_id = chain_id
        return True

    def _mark_down(self, endpoint: Endpoint, method: str, exc: BaseException) -> None:
        with self._lock:
            endpoint.failures += 1
            endpoint.down_until = time.monotonic() + self.backoff
        logger.warning(
            "JSON-RPC URL %s failed (%s: %s); trying another for %.0fs",
            endpoint.url,
            method,
            type(exc).__name__,
            self.backoff,
        )

    def _mark_up(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.down_until = 0.0
            self.active = self.endpoints.index(endpoint)


def _server_error(exc: requests.exceptions.HTTPError) -> bool:
    """Whether an HTTP error is the server's (5xx), not an answer to the request."""
    return exc.response is None or exc.response.status_code >= 500


def _never_sent(exc: BaseException) -> bool:
    """Whether a transport failure happened before the request could leave: the connection was refused or never
    established (its causes searched: requests wraps urllib3's errors)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectionRefusedError):
            return True
        pending.extend([getattr(item, "reason", None), item.__cause__, item.__context__, *item.args])
    return False


class ChainClient:
    """A connection to a JSON-RPC node, through one URL or several of the same chain with failover.

    Args:
        urls: the node's HTTP JSON-RPC URL; or several, as a sequence or one string separated by commas, tried in
            order (see :class:`FailoverProvider`).
        timeout: seconds per request (to one URL).
        backoff: with several URLs, seconds a URL that failed is tried only after the others.
        chain_id: the chain id every URL must serve; None: the first one learned (with several URLs) or not checked
            (with one).

    Raises:
        ValueError: no URL, or one that is not ``http(s)://``.
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        timeout: float = 10.0,
        backoff: float = 5.0,
        chain_id: int | None = None,
    ) -> None:
        self.urls = split_urls(urls)
        self.failover: FailoverProvider | None = None
        if len(self.urls) == 1 and chain_id is None:
            self.w3 = Web3(Web3.HTTPProvider(self.urls[0], request_kwargs={"timeout": timeout}))
        else:
            self.failover = FailoverProvider(self.urls, timeout=timeout, backoff=backoff, chain_id=chain_id)
            self.w3 = Web3(self.failover)
        self._head: tuple[float, int] | None = None
        self._head_lock = threading.Lock()
        self._views: dict[tuple[str, str], _View] = {}

    @property
    def url(self) -> str:
        """The URL in use: the only one, or the active one of several."""
        if self.failover is None:
            return self.urls[0]
        return self.failover.endpoints[self.failover.active].url

    @property
    def endpoints(self) -> list[Endpoint]:
        """With several URLs, what is known of each (chain id, down, refused); empty with one."""
        return list(self.failover.endpoints) if self.failover is not None else []

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
        except ChainUnavailable:
            raise
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

    def view(self, contract: Contract, function: str, *args: Any, block: int | str = "latest") -> Any:
        """Call the view function ``contract.function(*args)`` by one raw ``eth_call``.

        The same answer and errors as :meth:`call` of ``contract.get_function_by_name(function)(*args)`` (web3's
        argument normalizers and encoder, its revert formatter, its return normalizers: ``tests/chain/
        test_view_calls.py`` holds every view the services read equal to it), for a fifth of the CPU: web3 looks
        the function up in the ABI, builds a transaction and runs its validation middleware, which asks the node
        for the chain id again, on every call. Offchain lookups (EIP-3668) are not followed: no TraceCert
        contract makes one, and a node's answer should not make this process fetch URLs.

        Raises:
            ChainUnavailable: the node did not answer.
            ContractReverted: the call reverted (custom error decoded).
            ChainError: any other JSON-RPC error.
            BadFunctionCallOutput: the answer does not decode as the function's outputs (no code there).
        """
        spec = self._views.get((contract.address, function))
        if spec is None:
            abi = contract.get_function_by_name(function).abi
            spec = _View(
                HexStr("0x" + function_abi_to_4byte_selector(abi).hex()),
                abi,
                outputs := tuple(get_abi_output_types(abi)),
                any("address" in output for output in outputs),
            )
            self._views[(contract.address, function)] = spec
        call = {"to": contract.address, "data": encode_abi(self.w3, spec.abi, args, spec.selector)}
        tag = hex(block) if isinstance(block, int) else block

        def ask() -> bytes:
            response = self.w3.provider.make_request(RPCEndpoint("eth_call"), [call, tag])
            if "error" in response:
                raise_contract_logic_error_on_revert(response)
                raise Web3RPCError(repr(response["error"]), rpc_response=response)
            return bytes(HexBytes(response["result"]))

        returned = revert_guard(ask, what="eth_call")
        try:
            values = self.w3.codec.decode(spec.outputs, returned)
        except DecodingError as exc:
            raise BadFunctionCallOutput(
                f"Could not decode contract function call to {abi_to_signature(spec.abi)} with return data: "
                f"{returned!r}, output_types: {list(spec.outputs)}"
            ) from exc
        # web3's return normalizers checksum addresses and nothing else; without an address it is a list as is.
        normalized = map_abi_data(BASE_RETURN_NORMALIZERS, spec.outputs, values) if spec.addresses else list(values)
        return normalized[0] if len(normalized) == 1 else normalized

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
