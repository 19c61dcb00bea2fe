"""The transaction sender: journal before broadcast, idempotent retries, recovery, reverts decoded, timeouts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from eth_account import Account

from tests.conftest import Chain, free_port
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.errors import ChainUnavailable, ContractReverted, ReceiptTimeout, TransactionFailed
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import FileJournal, JournalEntry, Receipt, TransactionSender


def _register_regulator_data(chain: Chain, account: str) -> bytes:
    return bytes.fromhex(chain.contracts.trust.encode_abi("registerRegulator", [account, 330000, "浙江"])[2:])


def _tx_count(client: ChainClient, address: str) -> int:
    return int(client.rpc("eth_getTransactionCount", [address, "latest"]), 16)


def test_revert_is_decoded_before_signing_and_consumes_no_nonce(chain: Chain) -> None:
    outsider = chain.actor("outsider")
    before = _tx_count(chain.client, outsider.address)
    with pytest.raises(ContractReverted) as exc:
        chain.contracts.register_regulator(outsider, Account.create().address, 330000, "x")
    assert exc.value.error == "TrustRegistryNotRegulator"
    assert exc.value.args_decoded == (outsider.address,)
    assert _tx_count(chain.client, outsider.address) == before
    # The next transaction of that account still goes through with the right nonce.
    chain.client.set_balance(outsider.address, 10**20)
    receipt = outsider.send(outsider.address, b"", value=1)
    assert receipt.status == 1


def test_same_key_twice_is_one_transaction(chain: Chain, tmp_path: Path) -> None:
    sender = TransactionSender(chain.client, chain.national._account, FileJournal(tmp_path / "j.jsonl"))
    data = _register_regulator_data(chain, Account.create().address)
    first = sender.send(chain.contracts.trust.address, data, key="register:zj")
    second = sender.send(chain.contracts.trust.address, data, key="register:zj")
    assert first.tx_hash == second.tx_hash
    assert first.block_number == second.block_number


def test_crash_after_journaling_is_finished_once_by_recover(chain: Chain, tmp_path: Path) -> None:
    """A process that dies between journaling and broadcasting leaves a SIGNED entry; the next one sends exactly
    that transaction, and a retry with the same key neither signs anew nor sends twice."""
    journal_path = tmp_path / "journal.jsonl"
    account = chain.national._account

    class Crash(Exception):
        pass

    class CrashingSender(TransactionSender):
        def _broadcast(self, entry: JournalEntry) -> None:
            raise Crash

    data = _register_regulator_data(chain, Account.create().address)
    with pytest.raises(Crash):
        CrashingSender(chain.client, account, FileJournal(journal_path)).send(
            chain.contracts.trust.address, data, key="register:crash"
        )
    [entry] = FileJournal(journal_path).open_entries(account.address)
    assert entry.state == "SIGNED"
    assert chain.client.rpc("eth_getTransactionReceipt", [entry.tx_hash]) is None

    restarted = TransactionSender(chain.client, account, FileJournal(journal_path))
    [receipt] = restarted.recover()
    assert receipt.tx_hash == entry.tx_hash and receipt.status == 1
    again = restarted.send(chain.contracts.trust.address, data, key="register:crash")
    assert again.tx_hash == entry.tx_hash
    assert FileJournal(journal_path).get("register:crash").state == "MINED"  # type: ignore[union-attr]


def test_mined_revert_is_decoded_from_the_receipt(chain: Chain) -> None:
    """Two regulators registered with the same account in one block: the second one is mined and reverts."""
    chain.client.rpc("evm_setAutomine", [False])
    try:
        account = Account.create().address
        data = _register_regulator_data(chain, account)
        sender = chain.national
        results: list[object] = []

        def send() -> None:
            try:
                results.append(sender.send(chain.contracts.trust.address, data, gas=300_000))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=send) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        chain.client.rpc("evm_mine", [])
        for t in threads:
            t.join(10)
    finally:
        chain.client.rpc("evm_setAutomine", [True])
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(results) == 2 and len(errors) == 1
    assert isinstance(errors[0], ContractReverted)
    assert errors[0].error == "TrustRegistryRegulatorExists"


def test_confirmations_wait_for_later_blocks(chain: Chain) -> None:
    sender = TransactionSender(chain.client, chain.national._account, confirmations=3, poll_interval=0.02)
    timer = threading.Timer(0.4, lambda: [chain.client.rpc("evm_mine", []) for _ in range(2)])
    timer.start()
    started = time.monotonic()
    receipt = sender.send(chain.contracts.trust.address, _register_regulator_data(chain, Account.create().address))
    assert time.monotonic() - started >= 0.35
    assert int(chain.client.rpc("eth_blockNumber", []), 16) >= receipt.block_number + 2


def test_receipt_timeout_then_recover_when_blocks_resume(chain: Chain, tmp_path: Path) -> None:
    journal = FileJournal(tmp_path / "j.jsonl")
    sender = TransactionSender(chain.client, chain.national._account, journal, receipt_timeout=0.5)
    data = _register_regulator_data(chain, Account.create().address)
    chain.client.rpc("evm_setAutomine", [False])
    try:
        with pytest.raises(ReceiptTimeout) as exc:
            sender.send(chain.contracts.trust.address, data, key="slow", gas=300_000)
        assert exc.value.code == "TX_TIMEOUT"
        assert journal.get("slow").state == "SENT"  # type: ignore[union-attr]
    finally:
        chain.client.rpc("evm_setAutomine", [True])
    chain.client.rpc("evm_mine", [])
    [receipt] = TransactionSender(chain.client, chain.national._account, journal).recover()
    assert receipt.tx_hash == exc.value.tx_hash and receipt.status == 1


def test_journaled_transaction_whose_nonce_was_taken_is_dropped(chain: Chain, tmp_path: Path) -> None:
    account = chain.national._account
    journal = FileJournal(tmp_path / "j.jsonl")
    nonce = _tx_count(chain.client, account.address)
    stale = account.sign_transaction(
        {
            "to": account.address,
            "value": 1,
            "gas": 21_000,
            "gasPrice": 10**10,
            "nonce": nonce,
            "chainId": chain.client.chain_id,
        }
    )
    journal.put(
        JournalEntry(
            key="stale",
            sender=account.address,
            nonce=nonce,
            tx_hash="0x" + bytes(stale.hash).hex(),
            raw="0x" + bytes(stale.raw_transaction).hex(),
        )
    )
    # Another transaction of the same account takes that nonce first.
    chain.national.send(account.address, b"", value=2)
    assert TransactionSender(chain.client, account, journal).recover() == []
    assert journal.get("stale").state == "DROPPED"  # type: ignore[union-attr]


def test_refused_transaction_is_failed_and_nonce_resynced(chain: Chain) -> None:
    poor = Account.create()
    sender = TransactionSender(chain.client, poor)
    with pytest.raises(TransactionFailed) as exc:
        sender.send(poor.address, b"", gas=21_000, value=10**18)  # no funds at all
    assert exc.value.code == "TX_FAILED"
    chain.client.set_balance(poor.address, 10**20)
    assert sender.send(poor.address, b"", value=1).status == 1


def test_node_gone_mid_batch_then_back_anchors_exactly_once(tmp_path: Path) -> None:
    """The node goes away after a transaction is journaled; after it comes back (same state), recovery lands that
    transaction once, and the contract still holds each root once."""
    from tracecert.certificate.merkle import build_batch
    from tracecert.certificate.signing import generate_key
    from tracecert.chain.types import Activity, LabKind

    node = AnvilNode(tmp_path / "node", port=free_port())
    node.start()
    try:
        client = ChainClient(node.url)
        actors = {n: Account.create() for n in ("national", "admin", "writer")}
        for a in actors.values():
            client.set_balance(a.address, 10**22)
        national = TransactionSender(client, actors["national"])
        contracts = ChainContracts(client, deploy(client, national, national_authority=actors["national"].address))
        lab_id = b"\x07" * 32
        contracts.register_lab(national, lab_id, LabKind.NMI, 110000, actors["admin"].address, "中国计量科学研究院")
        now = client.block_timestamp()
        contracts.authorize_lab(national, lab_id, "NIM-CMC", now - 10, now + 10**8, {"MASS": Activity.CALIBRATE})
        admin = TransactionSender(client, actors["admin"])
        contracts.add_writer(admin, lab_id, actors["writer"].address)
        key = generate_key()
        contracts.register_key(admin, lab_id, key.public_key)
        journal = FileJournal(tmp_path / "writer.jsonl")
        writer = TransactionSender(client, actors["writer"], journal, broadcast_attempts=2, receipt_timeout=2)
        roots = [build_batch([bytes([i]) * 32]).root for i in range(1, 4)]
        contracts.anchor(writer, roots[0], 1, key.key_id)

        node.stop()  # graceful: state dumped
        with pytest.raises(ChainUnavailable):
            contracts.anchor(writer, roots[1], 1, key.key_id)
        node.start()

        writer = TransactionSender(client, actors["writer"], FileJournal(tmp_path / "writer.jsonl"))
        contracts.anchor(writer, roots[1], 1, key.key_id)
        contracts.anchor(writer, roots[1], 1, key.key_id)  # a retry of the same root: no second transaction
        contracts.anchor(writer, roots[2], 1, key.key_id)
        assert [contracts.batch(r).index for r in roots] == [0, 1, 2]
        assert contracts.call(contracts.certificates, "batchCount") == 3
    finally:
        node.stop()


def test_transactions_behind_a_nonce_gap_are_retired_not_waited_on(chain: Chain, tmp_path: Path) -> None:
    """The node lost a mined transaction of ours (restarted from an older state). A send with the cached nonce,
    now above the gap, fails fast with NONCE_GAP instead of waiting TX_TIMEOUT; after a restart, recover() retires a
    journaled transaction the node never saw above the gap at once, and a retry of its key signs it anew."""
    account = chain.actor("gap")._account
    path = tmp_path / "j.jsonl"
    sender = TransactionSender(chain.client, account, FileJournal(path), receipt_timeout=30)
    snapshot = chain.client.rpc("evm_snapshot", [])
    lost = sender.send(account.address, b"", value=1, key="lost")
    chain.client.rpc("evm_revert", [snapshot])  # its block is gone; the sender still caches the nonce after it
    assert chain.client.rpc("eth_getTransactionReceipt", [lost.tx_hash]) is None
    started = time.monotonic()
    with pytest.raises(TransactionFailed) as exc:
        sender.send(account.address, b"", value=2, key="queued")
    assert time.monotonic() - started < 10
    assert exc.value.code == "NONCE_GAP"
    assert FileJournal(path).get("queued").state == "DROPPED"  # type: ignore[union-attr]

    # A process journaled one more transaction above the gap and died before broadcasting it.
    gap_nonce = _tx_count(chain.client, account.address)
    unsent = account.sign_transaction(
        {
            "to": account.address,
            "value": 3,
            "gas": 21_000,
            "gasPrice": 10**10,
            "nonce": gap_nonce + 3,
            "chainId": chain.client.chain_id,
        }
    )
    FileJournal(path).put(
        JournalEntry(
            key="unsent",
            sender=account.address,
            nonce=gap_nonce + 3,
            tx_hash="0x" + bytes(unsent.hash).hex(),
            raw="0x" + bytes(unsent.raw_transaction).hex(),
        )
    )
    restarted = TransactionSender(chain.client, account, FileJournal(path), receipt_timeout=30)
    started = time.monotonic()
    assert restarted.recover() == []
    assert time.monotonic() - started < 5
    assert FileJournal(path).get("unsent").state == "DROPPED"  # type: ignore[union-attr]
    receipt = restarted.send(account.address, b"", value=3, key="unsent")  # signed anew, with the chain's nonce
    assert receipt.status == 1 and receipt.tx_hash != "0x" + bytes(unsent.hash).hex()
    assert chain.client.rpc("eth_getTransactionByHash", [lost.tx_hash]) is None


def test_a_key_mined_in_a_block_the_node_lost_is_sent_again_once(chain: Chain, tmp_path: Path) -> None:
    """A key journaled MINED whose block the node lost (restarted from an older state): sending the key again
    hands the same signed transaction over again, and it lands once, instead of failing for ever with 'journaled
    as mined but no receipt' (found by scripts/chaos.py: the anchoring worker retried one batch for minutes)."""
    account = chain.actor("lost-mined")._account
    path = tmp_path / "j.jsonl"
    sender = TransactionSender(chain.client, account, FileJournal(path), receipt_timeout=30)
    before = _tx_count(chain.client, account.address)
    snapshot = chain.client.rpc("evm_snapshot", [])
    first = sender.send(account.address, b"", value=7, key="anchor:lost")
    assert FileJournal(path).get("anchor:lost").state == "MINED"  # type: ignore[union-attr]
    chain.client.rpc("evm_revert", [snapshot])  # the node came back without that block
    assert chain.client.rpc("eth_getTransactionReceipt", [first.tx_hash]) is None

    again = TransactionSender(chain.client, account, FileJournal(path), receipt_timeout=30)  # a restarted worker
    receipt = again.send(account.address, b"", value=7, key="anchor:lost")
    assert receipt.status == 1
    assert receipt.tx_hash == first.tx_hash  # the same signed bytes, not a second transaction
    assert _tx_count(chain.client, account.address) == before + 1
    assert FileJournal(path).get("anchor:lost").state == "MINED"  # type: ignore[union-attr]
    assert again.send(account.address, b"", value=7, key="anchor:lost").tx_hash == first.tx_hash


def test_threads_sending_at_once_take_consecutive_nonces_and_land_together(chain: Chain, tmp_path: Path) -> None:
    """The anchoring worker sends several batches at once from one account: each thread's transaction takes the
    next nonce, all wait in the pool together, one block mines them all, and each thread gets its own receipt."""
    outsider = Account.create()
    chain.client.set_balance(outsider.address, 10**20)
    journal = FileJournal(tmp_path / "journal.jsonl")
    sender = TransactionSender(chain.client, outsider, journal, poll_interval=0.02)
    first = _tx_count(chain.client, outsider.address)
    receipts: dict[int, Receipt] = {}
    chain.client.rpc("evm_setAutomine", [False])
    try:
        threads = [
            threading.Thread(
                target=lambda i=i: receipts.__setitem__(i, sender.send(outsider.address, b"", key=f"k{i}", value=i + 1))
            )
            for i in range(6)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while int(chain.client.rpc("txpool_status", [])["pending"], 16) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        chain.client.rpc("evm_mine", [])
        for thread in threads:
            thread.join(30)
    finally:
        chain.client.rpc("evm_setAutomine", [True])
    assert sorted(receipts) == list(range(6)) and {r.status for r in receipts.values()} == {1}
    assert len({r.block_number for r in receipts.values()}) == 1
    nonces = sorted(journal.get(f"k{i}").nonce for i in range(6))  # type: ignore[union-attr]
    assert nonces == list(range(first, first + 6))
    assert _tx_count(chain.client, outsider.address) == first + 6
