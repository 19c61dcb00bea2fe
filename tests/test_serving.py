"""The process settings both services' servers share (tracecert.serving): the collector kept off what a server
process builds once. Run in a fresh interpreter: freezing the test process's heap would keep its fixtures."""

from __future__ import annotations

import json
import subprocess
import sys

from tracecert.serving import GC_THRESHOLDS

_PROBE = """
import gc, json
from tracecert.serving import settle_heap
kept = [[i] for i in range(10_000)]  # what a server builds once
before = (gc.get_threshold(), gc.get_freeze_count())
settle_heap()
cycle = []
cycle.append(cycle)  # garbage made afterwards, in a cycle: still collected
del cycle
after = (gc.get_threshold(), gc.get_freeze_count(), gc.collect())
print(json.dumps({"before": before, "after": after}))
"""


def test_settle_heap_freezes_what_is_built_and_still_collects_later_cycles() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    probe = json.loads(out)
    (threshold, frozen), (settled, frozen_after, collected) = probe["before"], probe["after"]
    assert tuple(threshold) == (700, 10, 10) and frozen == 0
    assert tuple(settled) == GC_THRESHOLDS and frozen_after >= 10_000
    assert collected >= 1
