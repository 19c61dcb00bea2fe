"""`hardhat build` (Hardhat 3, offline, npm's solc-js) reproduces the committed artifacts' bytecode.

The build runs in a temporary project: hardhat.config.js, contracts/, node_modules linked, and a package.json
with "type": "module" as Hardhat 3 requires. It leaves the repository's artifacts/ and cache/ alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tracecert.chain.compile import ARTIFACTS_DIR, CONTRACTS, PROJECT_ROOT

NODE_MODULES = PROJECT_ROOT / "node_modules"
NODE22_BIN = NODE_MODULES / "node" / "bin"

pytestmark = pytest.mark.skipif(
    not (NODE_MODULES / "hardhat").is_dir(),
    reason="node_modules is absent (run `npm ci`): Hardhat is not installed",
)


@pytest.fixture(scope="module")
def hardhat_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the contracts with Hardhat in a temporary project; return its artifacts/ directory."""
    project = tmp_path_factory.mktemp("hardhat")
    shutil.copy2(PROJECT_ROOT / "hardhat.config.js", project / "hardhat.config.js")
    shutil.copytree(PROJECT_ROOT / "contracts", project / "contracts")
    package = {"name": "tracecert-hardhat-build-test", "private": True, "type": "module"}
    (project / "package.json").write_text(json.dumps(package), encoding="utf-8")
    (project / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)

    node = NODE22_BIN / "node"
    assert node.is_file(), f"{node} is missing: Hardhat 3 needs the npm package node@22 (run `npm ci`)"
    env = {**os.environ, "PATH": f"{NODE22_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    result = subprocess.run(
        [str(node), str(project / "node_modules" / "hardhat" / "dist" / "src" / "cli.js"), "build"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"hardhat build failed:\n{result.stdout}\n{result.stderr}"
    return project / "artifacts"


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_hardhat_bytecode_equals_committed_artifact(hardhat_artifacts: Path, name: str) -> None:
    source = CONTRACTS[name]
    built = json.loads((hardhat_artifacts / source / f"{name}.json").read_text(encoding="utf-8"))
    committed = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert built["deployedBytecode"] == committed["deployedBytecode"]
    assert built["bytecode"] == committed["bytecode"]
    assert built["abi"] == committed["abi"]
