"""The index benchmark (``scripts/bench_index.py``) at a tiny size, with its listings fetched over HTTP from a mirror
process (``--http``): every batch's contents are fetched, checked against its root and indexed, and the one more
batch of the incremental sync is found. Correctness, not timing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_catch_up_over_http_verifies_every_batch_and_the_next_one() -> None:
    batches, leaves = 12, 32
    args = f"--batches {batches} --leaves {leaves} --labs 3 --empty-blocks 40 --http --workers 3 --lookups 40"
    run = subprocess.run(
        [sys.executable, "scripts/bench_index.py", *args.split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    checked = r"batch contents\s+([\d,]+) listings checked against their roots \(([\d,]+) leaves\)"
    contents = re.search(checked, run.stdout)
    assert contents is not None, run.stdout
    assert (int(contents[1].replace(",", "")), int(contents[2].replace(",", ""))) == (batches, batches * leaves)
    assert re.search(r"together .* 0 flagged", run.stdout), run.stdout
    # The batch anchored after the catch-up was fetched from the mirror and verified too (else the script exits 1).
    assert "incremental sync:" in run.stdout
