"""The fuzz run of ``make test``: a few hundred mutated sample traces (``fuzz_traces.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).with_name("fuzz_traces.py")
CASES = 300
#: The fuzzing process holds hypothesis, click's runner and the samples: ~150-300 MB measured.
PEAK_RSS_BUDGET_MB = 600


def test_mutated_sample_traces_exit_0_1_or_2_without_traceback() -> None:
    proc = subprocess.run([sys.executable, str(HARNESS), "--cases", str(CASES), "--seed", "11"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["cases"] == CASES
    assert summary["peak_rss_mb"] < PEAK_RSS_BUDGET_MB
    codes = summary["exit_codes"]
    # the mutations reach the readers: some cases are refused, some still read
    assert codes.get("show 2", 0) > CASES // 10 and codes.get("show 0", 0) > CASES // 10, codes
    assert codes.get("cat 2", 0) and codes.get("cat 0", 0) and codes.get("check 1", 0), codes
    assert codes.get("pack 2", 0) and codes.get("pack 0", 0), codes
