"""Several JSON-RPC URLs with failover, against real Anvil nodes behind fault-injecting proxies.

Two proxies stand in front of ONE node (so both URLs serve the same chain); the first one is made to fail in each
way a network fails, and the client must keep answering through the second, send a transaction exactly once, refuse
a URL of another chain, and give up within a bounded time when every URL is down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import ValidationError

from tests.conftest import free_port
from tests.faultproxy import Fault, FaultProxy
from tracecert.chain.client import ChainClient, ChainIdMismatch, FailoverProvider
from tracecert.chain.config import ChainSettings
from tracecert.chain.deploy import Deployment, client_for, wait_for_deployment
from tracecert.chain.errors import ChainError, ChainUnavailable, DeploymentNotFound
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender
from verifier.config import VerifierSettings

TIMEOUT = 1.0  # the client's timeout per request: a black-holed endpoint costs this much


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """An Anvil node (automine) of this module's own."""
    with AnvilNode(tmp_path_factory.mktemp("failover"), port=free_port(), persist=False) as n:
        yield n


@pytest.fixture(scope="module")
def slow_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """An Anvil node with a real block time (1 s): a transaction waits in the pool before it is mined."""
    with AnvilNode(tmp_path_factory.mktemp("failover-slow"), port=free_port(), persist=False, block_time=1) as n:
        yield n


@pytest.fixture(scope="module")
def other_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """An Anvil node of another chain (id 4242)."""
    with AnvilNode(tmp_path_factory.mktemp("other"), port=free_port(), persist=False, chain_id=4242) as n:
        yield n


@pytest.fixture
def pair(node: AnvilNode) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """Two proxies in front of the same node."""
    with FaultProxy.to_url(node.url) as first, FaultProxy.to_url(node.url) as second:
        yield first, second


def _client(*urls: str, timeout: float = TIMEOUT, chain_id: int | None = None) -> ChainClient:
    return ChainClient(list(urls), timeout=timeout, backoff=30.0, chain_id=chain_id)


def _funded(client: ChainClient) -> LocalAccount:
    account: LocalAccount = Account.create()
    client.set_balance(account.address, 10**20)
    return account


def _reads(client: ChainClient) -> tuple[int, int, int, int]:
    """One read of each path: a raw request, the head, and two through web3 (chain id asked anew, a balance)."""
    return (
        int(client.rpc("eth_chainId", []), 16),
        client.head(max_age=0),
        client.w3.eth.chain_id,
        client.balance("0x" + "11" * 20),
    )


# ------------------------------------------------------------------ reads

#: Faults of the first endpoint after which reads go on through the second.
FAILING = [
    pytest.param(Fault.RESET, id="reset"),
    pytest.param(Fault.BLACKHOLE, id="blackhole"),
    pytest.param(Fault.REFUSE, id="refuse"),
    pytest.param(Fault.SEVER, id="sever"),
]


@pytest.mark.parametrize("fault", FAILING)
@pytest.mark.parametrize("warm", [True, False], ids=["after-use", "from-the-start"])
def test_reads_fail_over_to_the_second_url(pair: tuple[FaultProxy, FaultProxy], fault: Fault, warm: bool) -> None:
    first, second = pair
    client = _client(first.url, second.url)
    if warm:
        assert client.head(max_age=0) >= 0
        assert client.url == first.url
    first.set_fault(fault)
    started = time.monotonic()
    chain_id, head, web3_chain_id, balance = _reads(client)
    assert time.monotonic() - started < TIMEOUT + 2.0  # one timeout at most, then the second URL at once
    assert (chain_id, web3_chain_id, balance) == (31337, 31337, 0)
    assert head >= 0
    assert client.url == second.url
    down, up = client.endpoints
    assert down.failures == 1 and down.is_down()
    assert up.failures == 0 and up.chain_id == 31337
    if fault is not Fault.REFUSE:
        assert first.faulted >= 1  # the first URL was really tried, and failed in the intended way
    # The second URL stays in use: the first, down, is not tried again within its backoff.
    requests_before = first.requests
    _reads(client)
    assert first.requests == requests_before
    assert down.failures == 1


@pytest.mark.parametrize("fault", FAILING)
def test_a_url_down_is_tried_last_and_serves_when_the_others_fail(
    pair: tuple[FaultProxy, FaultProxy], fault: Fault
) -> None:
    first, second = pair
    client = _client(first.url, second.url)
    first.set_fault(fault)
    assert client.head(max_age=0) >= 0
    assert client.url == second.url
    first.set_fault(Fault.PASS)
    second.set_fault(fault)
    assert _reads(client)[0] == 31337
    assert client.url == first.url
    assert [e.failures for e in client.endpoints] == [1, 1]


#: A delay of the first endpoint: below the timeout it is waited for, above it the second URL answers.
DELAYS = [
    pytest.param(200, 0, id="below-timeout-stays"),
    pytest.param(int(TIMEOUT * 1000) + 500, 1, id="above-timeout-fails-over"),
]


@pytest.mark.parametrize(("delay_ms", "active"), DELAYS)
def test_a_slow_url(pair: tuple[FaultProxy, FaultProxy], delay_ms: int, active: int) -> None:
    first, second = pair
    client = _client(first.url, second.url)
    assert client.head(max_age=0) >= 0
    first.set_fault(Fault.DELAY, delay_ms=delay_ms)
    assert _reads(client)[0] == 31337
    assert client.url == pair[active].url
    assert client.endpoints[0].failures == active


# ------------------------------------------------------------------ transactions

#: Faults hitting the broadcast of a transaction on the first URL, and whether the node got it anyway.
BROADCAST_FAULTS = [
    pytest.param(Fault.SEVER, 0, id="sever-node-got-it"),
    pytest.param(Fault.DELAY, int(TIMEOUT * 1000) + 500, id="late-node-gets-it-after-the-timeout"),
    pytest.param(Fault.RESET, 0, id="reset-node-never-got-it"),
    pytest.param(Fault.BLACKHOLE, 0, id="blackhole-node-never-got-it"),
]


@pytest.mark.parametrize(("fault", "delay_ms"), BROADCAST_FAULTS)
@pytest.mark.parametrize("block_time", [None, 1], ids=["automine", "block-time-1s"])
def test_a_transaction_whose_broadcast_fails_midway_lands_exactly_once(
    node: AnvilNode, slow_node: AnvilNode, fault: Fault, delay_ms: int, block_time: int | None
) -> None:
    target = node if block_time is None else slow_node
    with FaultProxy.to_url(target.url) as first, FaultProxy.to_url(target.url) as second:
        client = _client(first.url, second.url)
        account = _funded(client)
        recipient = Account.create().address
        sender = TransactionSender(client, account, poll_interval=0.1)
        nonce_before = sender.node_nonce()
        first.set_fault(fault, delay_ms=delay_ms, only=b"eth_sendRawTransaction")
        receipt = sender.send(recipient, b"", value=12345)
        assert first.faulted == 1  # the broadcast did go to the first URL, and failed there
        assert receipt.status == 1
        assert client.url == second.url
        time.sleep(0.3 + (block_time or 0))  # a copy, had one been signed anew, would be mined by now
        assert sender.node_nonce() == nonce_before + 1
        assert client.balance(recipient) == 12345
        assert client.rpc("eth_getTransactionCount", [account.address, "latest"]) == hex(nonce_before + 1)


def _signed_transfer(client: ChainClient) -> tuple[str, str]:
    account = _funded(client)
    tx = {
        "to": Account.create().address,
        "value": 1,
        "gas": 21000,
        "gasPrice": int(client.rpc("eth_gasPrice", []), 16) * 2,
        "nonce": 0,
        "chainId": 31337,
    }
    signed = account.sign_transaction(tx)
    return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


def test_a_broadcast_that_may_have_reached_the_node_is_not_repeated_by_the_client(
    pair: tuple[FaultProxy, FaultProxy],
) -> None:
    first, second = pair
    client = _client(first.url, second.url)
    raw, tx_hash = _signed_transfer(client)
    first.set_fault(Fault.SEVER, only=b"eth_sendRawTransaction")
    with pytest.raises(ChainUnavailable) as info:
        client.rpc("eth_sendRawTransaction", [raw])
    assert info.value.code == "CHAIN_UNAVAILABLE"
    assert "not repeated" in str(info.value)
    assert second.requests == 0  # the second URL never saw it
    assert client.rpc("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"  # the node got it through the first
    assert client.url == second.url


def test_a_broadcast_refused_before_leaving_goes_to_the_next_url(pair: tuple[FaultProxy, FaultProxy]) -> None:
    first, second = pair
    client = _client(first.url, second.url)
    raw, tx_hash = _signed_transfer(client)
    first.set_fault(Fault.REFUSE)
    assert client.rpc("eth_sendRawTransaction", [raw]) == tx_hash
    assert client.rpc("eth_getTransactionReceipt", [tx_hash])["status"] == "0x1"


# ------------------------------------------------------------------ chain id


def test_a_url_of_another_chain_is_refused_and_never_used(
    pair: tuple[FaultProxy, FaultProxy], other_chain: AnvilNode
) -> None:
    first, _ = pair
    with FaultProxy.to_url(other_chain.url) as wrong:
        client = _client(first.url, wrong.url)
        assert client.chain_id == 31337
        first.set_fault(Fault.REFUSE)
        with pytest.raises(ChainUnavailable) as info:
            client.head(max_age=0)
        assert info.value.code == "CHAIN_UNAVAILABLE"
        assert "serves chain id 4242, not 31337" in str(info.value)
        assert client.endpoints[1].refused == "serves chain id 4242, not 31337"
        assert client.endpoints[1].chain_id is None
        asked = wrong.requests
        for _ in range(3):
            with pytest.raises(ChainUnavailable):
                client.rpc("eth_blockNumber", [])
        assert wrong.requests == asked  # refused for good: never asked again
        first.set_fault(Fault.PASS)
        assert int(client.rpc("eth_chainId", []), 16) == 31337


#: Clients whose every URL serves another chain than the one expected: refused with CHAIN_ID_MISMATCH.
MISMATCHES = [
    pytest.param(("other",), 31337, id="one-url-of-another-chain"),
    pytest.param(("other", "other"), 31337, id="every-url-of-another-chain"),
    pytest.param(("node",), 4242, id="expected-id-not-served"),
]


@pytest.mark.parametrize(("which", "expected"), MISMATCHES)
def test_no_url_of_the_expected_chain(
    node: AnvilNode, other_chain: AnvilNode, which: tuple[str, ...], expected: int
) -> None:
    urls = [{"node": node.url, "other": other_chain.url}[w] for w in which]
    client = _client(*urls, chain_id=expected)
    reads: list[Callable[[], object]] = [
        lambda: client.rpc("eth_blockNumber", []),
        lambda: client.chain_id,
        lambda: client.balance("0x" + "33" * 20),
    ]
    for read in reads:
        with pytest.raises(ChainIdMismatch) as info:
            read()
        assert info.value.code == "CHAIN_ID_MISMATCH"
    assert all(e.refused for e in client.endpoints)


# ------------------------------------------------------------------ all down


@pytest.mark.parametrize("fault", FAILING)
def test_every_url_down_is_unavailable_within_a_bounded_time(
    pair: tuple[FaultProxy, FaultProxy], fault: Fault
) -> None:
    first, second = pair
    client = _client(first.url, second.url, timeout=0.5)
    assert client.head(max_age=0) >= 0
    first.set_fault(fault)
    second.set_fault(fault)
    calls: list[Callable[[], object]] = [
        lambda: client.rpc("eth_blockNumber", []),
        lambda: client.balance("0x" + "22" * 20),
        lambda: client.block_timestamp(),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(ChainUnavailable) as info:
            call()
        assert info.value.code == "CHAIN_UNAVAILABLE"
        assert time.monotonic() - started < 2 * 0.5 + 1.0  # each URL tried once, each within its timeout
        assert first.url in str(info.value) and second.url in str(info.value)
    first.set_fault(Fault.PASS)
    assert _reads(client)[0] == 31337


# ------------------------------------------------------------------ one URL, settings


def test_one_url_behaves_as_before(node: AnvilNode) -> None:
    client = ChainClient(node.url)
    assert client.failover is None
    assert not isinstance(client.w3.provider, FailoverProvider)
    assert client.url == node.url and client.urls == [node.url] and client.endpoints == []
    assert client.chain_id == 31337


def test_a_comma_separated_string_is_several_urls(node: AnvilNode) -> None:
    client = ChainClient(f" {node.url} , http://127.0.0.1:{free_port()} ")
    assert client.urls == [node.url, client.urls[1]]
    assert isinstance(client.w3.provider, FailoverProvider)
    assert client.chain_id == 31337


#: TRACECERT_CHAIN_RPC_URL values and the URLs they configure.
URL_SETTINGS = [
    pytest.param("http://a:8545", ["http://a:8545"], id="one"),
    pytest.param("http://a:8545, https://b/rpc", ["http://a:8545", "https://b/rpc"], id="two-comma-separated"),
    pytest.param('["http://a:8545", "http://b:8545"]', ["http://a:8545", "http://b:8545"], id="json-list"),
    pytest.param("http://a:8545,", ["http://a:8545"], id="trailing-comma"),
    pytest.param("", [], id="blank-is-unset"),
]


@pytest.mark.parametrize(("value", "urls"), URL_SETTINGS)
def test_rpc_url_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, urls: list[str]) -> None:
    monkeypatch.setenv("TRACECERT_CHAIN_RPC_URL", value)
    monkeypatch.delenv("TRACECERT_VERIFIER_RPC_URL", raising=False)
    chain = ChainSettings()
    assert chain.rpc_urls == urls
    assert chain.rpc_url == (",".join(urls) or None)
    verifier = VerifierSettings(data_dir=tmp_path)
    assert verifier.rpc_url == chain.rpc_url


#: Values refused, each naming the bad item.
BAD_URL_SETTINGS = [
    pytest.param("ftp://a", "ftp://a", id="not-http"),
    pytest.param("http://a:8545,b:8545", "b:8545", id="second-without-scheme"),
    pytest.param('["http://a:8545", "ws://b"]', "ws://b", id="json-item-not-http"),
]


@pytest.mark.parametrize(("value", "named"), BAD_URL_SETTINGS)
def test_bad_rpc_url_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, named: str) -> None:
    monkeypatch.setenv("TRACECERT_CHAIN_RPC_URL", value)
    monkeypatch.delenv("TRACECERT_VERIFIER_RPC_URL", raising=False)
    for build in (ChainSettings, lambda: VerifierSettings(data_dir=tmp_path)):
        with pytest.raises(ValidationError) as info:
            build()
        assert f"not an http(s) JSON-RPC URL: {named!r}" in str(info.value)


@pytest.mark.parametrize("urls", [[], "", " , ", ["nowhere"]], ids=["empty-list", "empty", "only-commas", "no-scheme"])
def test_a_client_without_a_usable_url_is_refused(urls: str | list[str]) -> None:
    with pytest.raises(ValueError, match="JSON-RPC URL"):
        ChainClient(urls)


def test_a_chain_id_mismatch_is_caught_as_unavailable() -> None:
    # Callers that wait out an unreachable node (the worker, the index) catch ChainUnavailable: a mismatch is one.
    assert issubclass(ChainIdMismatch, ChainUnavailable) and issubclass(ChainIdMismatch, ChainError)


@pytest.mark.parametrize("file", ["deployment of the node's chain", "no deployment file"])
def test_the_services_client_takes_the_chain_id_from_the_deployment(
    node: AnvilNode, other_chain: AnvilNode, tmp_path: Path, file: str
) -> None:
    """The registry's client (``client_for``): with several URLs and a deployment file, each URL must be on the
    deployment's chain, so a wrong first URL is refused and the right one serves. Without a file the first URL
    answering sets the chain, and the right one is refused instead (CHAIN_ID_MISMATCH)."""
    deployment_file = tmp_path / "deployment.json"
    right = ChainClient(node.url).chain_id
    if file == "deployment of the node's chain":
        zero = "0x" + "00" * 20
        Deployment(right, zero, zero, zero, zero, 0).save(deployment_file)
    client = client_for(f"{other_chain.url},{node.url}", deployment_file, timeout=TIMEOUT)
    if file == "no deployment file":
        assert client.chain_id == 4242
        return
    assert client.chain_id == right
    assert client.head(max_age=0) >= 0


def test_a_service_waits_for_a_node_that_is_starting(tmp_path: Path) -> None:
    """``wait_for_deployment``: a service started while its node is (re)starting asks again until the node
    answers, then finds its deployment; a node that never comes ends in ChainUnavailable at the timeout."""
    port = free_port()
    node = AnvilNode(tmp_path / "late", port=port, persist=False)
    client = ChainClient(f"http://127.0.0.1:{port}", timeout=TIMEOUT)
    zero = "0x" + "00" * 20
    Deployment(node.chain_id, zero, zero, zero, zero, 0).save(tmp_path / "deployment.json")
    started = time.monotonic()
    with pytest.raises(ChainUnavailable):
        wait_for_deployment(client, tmp_path / "deployment.json", 1.0)
    assert time.monotonic() - started < 6

    later = threading.Timer(1.5, node.start)
    later.start()
    try:
        with pytest.raises(DeploymentNotFound) as found:  # the node came: no code of ours there (not waited on)
            wait_for_deployment(client, tmp_path / "deployment.json", 30.0)
        assert "no TrustRegistry code" in str(found.value)
    finally:
        later.join()
        node.stop()
