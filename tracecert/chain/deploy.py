"""Deploying the contracts, recording where they are, and binding to them.

The deployment file (``deployment.json`` in the data directory) records the chain id, the contract addresses,
the national authority and the compiler; :func:`find_deployment` checks that the recorded code is really on the
chain it talks to before anyone relies on it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from tracecert.chain.client import ChainClient
from tracecert.chain.compile import COMPILER_VERSION, load_artifact
from tracecert.chain.errors import DeploymentNotFound
from tracecert.chain.sender import Receipt, TransactionSender

__all__ = ["ChainContracts", "Deployment", "deploy", "expected_runtime_code", "find_deployment"]


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
            code[place["start"]: place["start"] + place["length"]] = value
    return bytes(code)


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
    return deployment


def deploy(client: ChainClient, sender: TransactionSender, *, national_authority: str,
           authority_name: str = "National metrology authority") -> Deployment:
    """Deploy TrustRegistry (rooted at ``national_authority``) and CertificateRegistry from ``sender``.

    Raises:
        ContractReverted, TransactionFailed, ReceiptTimeout, ChainUnavailable: from sending.
    """
    trust_data = load_artifact("TrustRegistry")["bytecode"] + abi_encode(
        ["address", "string"], [Web3.to_checksum_address(national_authority), authority_name]
    ).hex()
    trust_receipt = sender.send(None, trust_data)
    trust_address = Web3.to_checksum_address(str(trust_receipt.contract_address))

    cert_data = load_artifact("CertificateRegistry")["bytecode"] + abi_encode(["address"], [trust_address]).hex()
    cert_receipt = sender.send(None, cert_data)
    return Deployment(
        chain_id=client.chain_id,
        trust_registry=trust_address,
        certificate_registry=Web3.to_checksum_address(str(cert_receipt.contract_address)),
        national_authority=Web3.to_checksum_address(national_authority),
        deployer=sender.address,
        block_number=trust_receipt.block_number,
        tx_hashes={"TrustRegistry": trust_receipt.tx_hash, "CertificateRegistry": cert_receipt.tx_hash},
    )


class ChainContracts:
    """The deployed contracts bound to a client: encode, send, call and decode events in one place."""

    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        self.client = client
        self.deployment = deployment
        self.trust: Contract = client.contract("TrustRegistry", deployment.trust_registry)
        self.certificates: Contract = client.contract("CertificateRegistry", deployment.certificate_registry)

    def transact(self, sender: TransactionSender, contract: Contract, function: str, *args: Any,
                 key: str | None = None) -> Receipt:
        """Send ``contract.function(*args)`` from ``sender``.

        Raises:
            ContractReverted: with the custom error name, before signing (estimate) or after mining.
        """
        return sender.send(contract.address, contract.encode_abi(function, list(args)), key=key)

    def call(self, contract: Contract, function: str, *args: Any, block: int | str = "latest") -> Any:
        """Call a view function; reverts raise :class:`~tracecert.chain.errors.ContractReverted`."""
        return self.client.call(contract.get_function_by_name(function)(*args), block=block)

    def events(self, receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
        """Decode the TraceCert events of a receipt as ``(name, args)`` in log order."""
        decoded: list[tuple[str, dict[str, Any]]] = []
        by_topic: dict[bytes, Any] = {}
        for contract in (self.trust, self.certificates):
            for item in contract.abi:
                if item["type"] == "event":
                    types = ",".join(i["type"] if not i["type"].startswith("tuple") else "tuple" for i in item["inputs"])
                    by_topic[keccak(text=f"{item['name']}({types})")] = (contract, item["name"])
        for log in receipt.logs:
            topics = log["topics"]
            if not topics:
                continue
            found = by_topic.get(bytes(HexBytes(topics[0])))
            if found is None or Web3.to_checksum_address(log["address"]) != found[0].address:
                continue
            contract, name = found
            event = contract.events[name]().process_log(_web3_log(log))
            decoded.append((name, dict(event["args"])))
        return decoded


def _web3_log(log: dict[str, Any]) -> Any:
    from web3._utils.method_formatters import log_entry_formatter

    return log_entry_formatter(log)
