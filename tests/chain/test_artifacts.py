"""The committed artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tracecert.chain.compile import ARTIFACTS_DIR, CONTRACTS, PROJECT_ROOT, artifact_bytes, compile_contracts

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (PROJECT_ROOT / "node_modules" / "solc").is_dir(),
    reason="needs node and npm's solc (run the set-up command)",
)


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict]:
    return compile_contracts()


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_committed_artifact_matches_fresh_compile(fresh: dict[str, dict], name: str) -> None:
    committed = (ARTIFACTS_DIR / f"{name}.json").read_bytes()
    assert committed == artifact_bytes(fresh[name]), (
        f"{name}: committed artifact differs from a fresh compile; run scripts/compile_contracts.py and commit"
    )


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_artifact_records_source_hash_and_compiler(fresh: dict[str, dict], name: str) -> None:
    import hashlib

    source = (PROJECT_ROOT / CONTRACTS[name]).read_bytes()
    assert fresh[name]["sourceSha256"] == hashlib.sha256(source).hexdigest()
    assert fresh[name]["compiler"]["version"] == "0.8.37"
    # No metadata hash: the same source gives the same bytecode on every path (py-solc-x, Hardhat, Slither).
    assert not fresh[name]["deployedBytecode"].endswith("0033")


def test_runtime_code_fits_the_eip170_limit(fresh: dict[str, dict]) -> None:
    for name, artifact in fresh.items():
        assert (len(artifact["deployedBytecode"]) - 2) // 2 <= 24_576, name


def test_artifacts_directory_has_no_strays() -> None:
    assert sorted(p.stem for p in Path(ARTIFACTS_DIR).glob("*.json")) == sorted(CONTRACTS)
