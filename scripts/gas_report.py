"""Gas report: the gas of every TraceCert write on a real Anvil node, printed as a table.

Starts its own throw-away Anvil node, deploys, walks a regulator → lab → key → batches → revocation path and
prints the gas of each transaction, the revocation cost for certificates of batches of several sizes (it does not
depend on the batch), and the anchoring cost per certificate at batch sizes 1, 2, 256 and 1,024.

    .venv/bin/python scripts/gas_report.py
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import socket
import tempfile
from pathlib import Path

from eth_account import Account

from tracecert.certificate.merkle import build_batch
from tracecert.certificate.signing import generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.compile import COMPILER_VERSION, OPTIMIZER_RUNS
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import Receipt, TransactionSender
from tracecert.chain.types import Activity, LabKind, RevocationReason, SanctionKind, SanctionReason

ANCHOR_LIMIT = 80_000
REVOKE_LIMIT = 60_000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _machine() -> str:
    import subprocess

    from tracecert.chain.node import find_anvil

    anvil = subprocess.run([str(find_anvil()), "--version"], capture_output=True, text=True, check=False)
    version = anvil.stdout.splitlines()[0] if anvil.stdout else "anvil"
    model = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{version}, {os.cpu_count()} cores ({model})"


def _digests(n: int, salt: str) -> list[bytes]:
    import hashlib

    return [hashlib.sha256(f"{salt}-{i}".encode()).digest() for i in range(n)]


def main() -> None:
    rows: list[tuple[str, int, str]] = []

    def record(what: str, receipt: Receipt, note: str = "") -> Receipt:
        rows.append((what, receipt.gas_used, note))
        return receipt

    with tempfile.TemporaryDirectory() as tmp, AnvilNode(Path(tmp), port=_port(), persist=False) as node:
        client = ChainClient(node.url)

        def actor() -> TransactionSender:
            account = Account.create()
            client.set_balance(account.address, 10**22)
            return TransactionSender(client, account)

        national, province, admin, writer = actor(), actor(), actor(), actor()
        deployment = deploy(client, national, national_authority=national.address)
        chain = ChainContracts(client, deployment)
        rows.append(
            (
                "deploy TrustRegistry",
                int(
                    client.rpc("eth_getTransactionReceipt", [deployment.tx_hashes["TrustRegistry"]])["gasUsed"],
                    16,
                ),
                "",
            )
        )
        for contract in ("CertificateRegistry", "CreditRegistry"):
            receipt = client.rpc("eth_getTransactionReceipt", [deployment.tx_hashes[contract]])
            rows.append((f"deploy {contract}", int(receipt["gasUsed"], 16), ""))
        record(
            "registerRegulator (province)",
            chain.register_regulator(national, province.address, 330000, "浙江省市场监督管理局"),
        )
        lab_id = bytes.fromhex("11" * 32)
        record(
            "registerLab",
            chain.register_lab(
                province,
                lab_id,
                LabKind.LEGAL_METROLOGY_INSTITUTE,
                330100,
                admin.address,
                "杭州市计量检定测试院",
            ),
        )
        now = client.block_timestamp()
        record(
            "authorizeLab (3 categories)",
            chain.authorize_lab(
                province,
                lab_id,
                "(浙)法计(2024)01001号",
                now - 86400,
                now + 5 * 365 * 86400,
                {
                    "JJG443": Activity.VERIFY,
                    "JJG52": Activity.VERIFY | Activity.CALIBRATE,
                    "JJF1033": Activity.CALIBRATE,
                },
            ),
        )
        record("addWriter", chain.add_writer(admin, lab_id, writer.address))
        key = generate_key()
        record("registerKey", chain.register_key(admin, lab_id, key.public_key))
        spare = generate_key()
        chain.register_key(admin, lab_id, spare.public_key)
        record("closeKey", chain.close_key(admin, spare.key_id, 0, 1))

        per_cert: list[tuple[int, int]] = []
        revoke_rows: list[tuple[int, int]] = []
        batches = {}
        for n in (1, 2, 256, 1024):
            digests = _digests(n, f"batch{n}")
            batch = build_batch(digests)
            receipt = chain.anchor(writer, batch.root, n, key.key_id)
            batches[n] = (digests, batch)
            per_cert.append((n, receipt.gas_used))
            if n == 256:
                record("anchor (one root, any batch size)", receipt)
        for n, (digests, _batch) in batches.items():
            receipt = chain.revoke(writer, lab_id, digests[n - 1], RevocationReason.ERROR_IN_CONTENT)
            revoke_rows.append((n, receipt.gas_used))
        d1024, _ = batches[1024]
        record(
            "revoke (by a lab writer)",
            chain.revoke(writer, lab_id, d1024[5], RevocationReason.ERROR_IN_CONTENT),
        )
        record(
            "revoke with a past effective time",
            chain.revoke(writer, lab_id, d1024[4], RevocationReason.FRAUD, client.block_timestamp() - 30 * 86400),
        )
        record("substitute", chain.substitute(writer, lab_id, d1024[6], d1024[7]))
        record("revoke by regulator", chain.revoke(province, lab_id, d1024[8], RevocationReason.REGULATOR_ORDER))
        record("suspendLab", chain.suspend_lab(province, lab_id, int(SanctionReason.OUTSIDE_SCOPE)))
        record("reinstateLab", chain.reinstate_lab(province, lab_id))
        decision, now = hashlib.sha256(b"decision").digest(), client.block_timestamp()
        case = "浙市监计罚〔2026〕1号"
        record(
            "credit: record a lab sanction",
            chain.record_sanction(province, lab_id, SanctionKind.FINE, SanctionReason.FALSE_CERTIFICATE, case,
                                  decision, now, now + 365 * 86400),
        )  # fmt: skip
        record(
            "credit: record an enterprise sanction",
            chain.record_sanction(province, "91330106MA27XK5L3" + "X", SanctionKind.WARNING,
                                  SanctionReason.NONCONFORMING_INSTRUMENTS, "浙市监计罚〔2026〕2号", decision, now),
        )  # fmt: skip
        lifted = chain.lift_sanction(province, lab_id, 0, SanctionReason.RECTIFIED, "解除", decision, now)
        record("credit: lift", lifted)

    print(f"TraceCert gas report: {_machine()}; solc {COMPILER_VERSION}, optimizer {OPTIMIZER_RUNS} runs\n")
    print(f"{'transaction':<42} {'gas':>10}")
    print("-" * 53)
    for what, gas, _note in rows:
        print(f"{what:<42} {gas:>10,}")
    print(f"\n{'revoke: batch size':<22} {'gas':>10}")
    for n, gas in revoke_rows:
        print(f"{n:<22,} {gas:>10,}")
    print(f"\n{'anchor: batch size':<22} {'gas':>10} {'gas per certificate':>20}")
    for n, gas in per_cert:
        print(f"{n:<22,} {gas:>10,} {gas / n:>20,.1f}")
    anchor_gas = max(g for _, g in per_cert)
    revoke_gas = max(g for _, g in revoke_rows)
    print(
        f"\nlimits: anchor {anchor_gas:,} <= {ANCHOR_LIMIT:,}: {'OK' if anchor_gas <= ANCHOR_LIMIT else 'EXCEEDED'}; "
        f"revoke (worst) {revoke_gas:,} <= {REVOKE_LIMIT:,}: "
        f"{'OK' if revoke_gas <= REVOKE_LIMIT else 'EXCEEDED'}"
    )


if __name__ == "__main__":
    main()
