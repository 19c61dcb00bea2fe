"""Compile the Solidity contracts offline (py-solc-x driving npm's solc-js) into committed artifacts.

Tests and services never compile: they load :func:`load_artifact`. ``scripts/compile_contracts.py`` writes the
artifacts; a test checks that a fresh compile reproduces them byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "ARTIFACTS_DIR",
    "COMPILER_VERSION",
    "CONTRACTS",
    "OPTIMIZER_RUNS",
    "PROJECT_ROOT",
    "artifact_bytes",
    "compile_contracts",
    "load_artifact",
    "standard_json_input",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
#: One pinned compiler and one set of settings everywhere (py-solc-x, Hardhat, Slither).
COMPILER_VERSION = "0.8.37"
EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200
#: Deployable contracts: name -> source path relative to the project root.
CONTRACTS = {
    "TrustRegistry": "contracts/TrustRegistry.sol",
    "CertificateRegistry": "contracts/CertificateRegistry.sol",
    "CreditRegistry": "contracts/CreditRegistry.sol",
}


def standard_json_input(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The solc standard-JSON input for all contracts, with the pinned settings."""
    sources = {path: {"content": (root / path).read_text(encoding="utf-8")} for path in CONTRACTS.values()}
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "viaIR": False,
            "metadata": {"bytecodeHash": "none", "appendCBOR": False},
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                        "devdoc",
                        "userdoc",
                    ]
                }
            },
        },
    }


def compile_contracts(root: Path = PROJECT_ROOT) -> dict[str, dict[str, Any]]:
    """Compile with solc-js through ``scripts/solc-js``; return ``{name: artifact}``.

    Raises:
        RuntimeError: the compiler reported errors (the message lists them).
    """
    import solcx

    solc = root / "scripts" / "solc-js"
    output = solcx.compile_standard(standard_json_input(root), solc_binary=solc, allow_paths=[str(root)])
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for name, path in CONTRACTS.items():
        out = output["contracts"][path][name]
        source = (root / path).read_bytes()
        artifacts[name] = {
            "contractName": name,
            "sourceName": path,
            "sourceSha256": hashlib.sha256(source).hexdigest(),
            "compiler": {
                "version": COMPILER_VERSION,
                "evmVersion": EVM_VERSION,
                "optimizerRuns": OPTIMIZER_RUNS,
            },
            "abi": out["abi"],
            "bytecode": "0x" + out["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
            "immutableReferences": out["evm"]["deployedBytecode"].get("immutableReferences", {}),
            "devdoc": out.get("devdoc", {}),
            "userdoc": out.get("userdoc", {}),
        }
    return artifacts


def artifact_bytes(artifact: dict[str, Any]) -> bytes:
    """The exact bytes an artifact file holds (stable JSON, so diffs are meaningful)."""
    return (json.dumps(artifact, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """Load a committed artifact (ABI and bytecode) by contract name.

    Raises:
        FileNotFoundError: no artifact of that name (run ``scripts/compile_contracts.py``).
    """
    return json.loads((ARTIFACTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
