"""Deploying the contracts, recording where they are, and binding to them.

The deployment file (``deployment.json`` in the data directory) records the chain id, the contract addresses,
the national authority and the compiler; :func:`find_deployment` checks that the recorded code is really on the
chain it talks to before anyone relies on it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_abi import encode as abi_encode
from web3 import Web3

from tracecert.chain.client import ChainClient, split_urls
from tracecert.chain.compile import COMPILER_VERSION, load_artifact
from tracecert.chain.errors import ChainUnavailable, DeploymentNotFound
from tracecert.chain.sender import TransactionSender

__all__ = ["Deployment", "client_for", "deploy", "expected_runtime_code", "find_deployment", "wait_for_deployment"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployment:
    """Where the TraceCert contracts live on one chain."""

    chain_id: int
    trust_registry: str
    certificate_registry: str
    national_authority: str
    deployer: str
    block_number: int
    tx_hashes: dict[str, str] = field(default_factory=dict)
    compiler: str = COMPILER_VERSION
    #: The CreditRegistry (empty in deployment files written before it existed: the credit record is then unknown).
    credit_registry: str = ""

    def save(self, path: Path) -> None:
        """Write the deployment file (atomically)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a deployment file.

        Raises:
            DeploymentNotFound: the file is missing or unreadable.
        """
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise DeploymentNotFound(f"no usable deployment file at {path}: {exc}") from exc


def expected_runtime_code(name: str, immutables: dict[str, bytes] | None = None) -> bytes:
    """The runtime code a correct deployment of ``name`` has, with its immutables filled in.

    ``immutables`` maps the artifact's immutable reference ids to their 32-byte values; for the
    CertificateRegistry the only one is the TrustRegistry address.
    """
    artifact = load_artifact(name)
    code = bytearray(bytes.fromhex(artifact["deployedBytecode"][2:]))
    for ref_id, places in artifact.get("immutableReferences", {}).items():
        value = (immutables or {}).get(ref_id, b"\x00" * 32)
        for place in places:
            code[place["start"] : place["start"] + place["length"]] = value
    return bytes(code)


def client_for(urls: str, deployment_file: Path, *, timeout: float = 10.0) -> ChainClient:
    """A client of the node(s) at ``urls`` (comma-separated). With several, each must be on the chain of the
    deployment file (when there is one): a wrong first URL then cannot make the right ones look wrong."""
    chain_id = None
    if len(split_urls(urls)) > 1:
        with contextlib.suppress(DeploymentNotFound):
            chain_id = Deployment.load(deployment_file).chain_id
    return ChainClient(urls, timeout=timeout, chain_id=chain_id)


def wait_for_deployment(client: ChainClient, path: Path, timeout: float) -> Deployment:
    """:func:`find_deployment`, asking again while the node does not answer, for at most ``timeout`` seconds: a
    service started while its node is (re)starting waits for it instead of dying.

    Raises:
        ChainUnavailable: the node did not answer in time.
        DeploymentNotFound: see :func:`find_deployment` (not waited on).
    """
    deadline = time.monotonic() + timeout
    pause = 0.2
    while True:
        try:
            return find_deployment(client, path)
        except ChainUnavailable as exc:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("chain node not reachable yet (%s); asking again", exc)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def find_deployment(client: ChainClient, path: Path) -> Deployment:
    """Load the deployment file and check it against the chain: same chain id, and exactly the compiled code
    at both addresses.

    Raises:
        DeploymentNotFound: no file, another chain, or other code at the recorded addresses.
        ChainUnavailable: the node did not answer.
    """
    deployment = Deployment.load(path)
    if deployment.chain_id != client.chain_id:
        raise DeploymentNotFound(f"{path} is for chain {deployment.chain_id}, the node is chain {client.chain_id}")
    if client.code(deployment.trust_registry) != expected_runtime_code("TrustRegistry"):
        raise DeploymentNotFound(f"no TrustRegistry code at {deployment.trust_registry} on chain {client.chain_id}")
    trust_word = bytes(12) + bytes.fromhex(deployment.trust_registry[2:])
    refs = load_artifact("CertificateRegistry").get("immutableReferences", {})
    expected = expected_runtime_code("CertificateRegistry", dict.fromkeys(refs, trust_word))
    if client.code(deployment.certificate_registry) != expected:
        raise DeploymentNotFound(
            f"no CertificateRegistry code at {deployment.certificate_registry} on chain {client.chain_id}"
        )
    if deployment.credit_registry:
        refs = load_artifact("CreditRegistry").get("immutableReferences", {})
        expected = expected_runtime_code("CreditRegistry", dict.fromkeys(refs, trust_word))
        if client.code(deployment.credit_registry) != expected:
            raise DeploymentNotFound(
                f"no CreditRegistry code at {deployment.credit_registry} on chain {client.chain_id}"
            )
    return deployment


def deploy(
    client: ChainClient,
    sender: TransactionSender,
    *,
    national_authority: str,
    authority_name: str = "National metrology authority",
) -> Deployment:
    """Deploy TrustRegistry (rooted at ``national_authority``), CertificateRegistry and CreditRegistry from
    ``sender``.

    Raises:
        ContractReverted, TransactionFailed, ReceiptTimeout, ChainUnavailable: from sending.
    """
    trust_data = (
        load_artifact("TrustRegistry")["bytecode"]
        + abi_encode(["address", "string"], [Web3.to_checksum_address(national_authority), authority_name]).hex()
    )
    trust_receipt = sender.send(None, trust_data)
    trust_address = Web3.to_checksum_address(str(trust_receipt.contract_address))

    cert_data = load_artifact("CertificateRegistry")["bytecode"] + abi_encode(["address"], [trust_address]).hex()
    cert_receipt = sender.send(None, cert_data)
    credit_data = load_artifact("CreditRegistry")["bytecode"] + abi_encode(["address"], [trust_address]).hex()
    credit_receipt = sender.send(None, credit_data)
    return Deployment(
        chain_id=client.chain_id,
        trust_registry=trust_address,
        certificate_registry=Web3.to_checksum_address(str(cert_receipt.contract_address)),
        national_authority=Web3.to_checksum_address(national_authority),
        deployer=sender.address,
        block_number=trust_receipt.block_number,
        tx_hashes={
            "TrustRegistry": trust_receipt.tx_hash,
            "CertificateRegistry": cert_receipt.tx_hash,
            "CreditRegistry": credit_receipt.tx_hash,
        },
        credit_registry=Web3.to_checksum_address(str(credit_receipt.contract_address)),
    )
