"""The soak script's short run (``scripts/soak.py``): issuing and verifying together through the real registry
API, worker and verifier processes; every verification answered VALID, throughput and memory reported. (The
bounded ten-minute soak and its memory figures are a documented command, see the README.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "scripts" / "soak.py"


def test_a_short_soak_issues_and_verifies_together() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--minutes", "0.5", "--every", "10", "--rate", "100", "--warmup", "0"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert run.stdout.strip(), run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["failures"] == 0, summary["first_failures"]
    assert summary["issued"] > 0 and summary["anchored"] > 0 and summary["verified"] > 0
    assert set(summary["memory_growth"]) == {"anvil", "registry API", "worker", "verifier"}
    assert "memory after the warm-up" in run.stdout
