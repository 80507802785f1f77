"""`make demo`'s job: the bundled sample trained TF1-style and TF2-style diffs equivalent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tftrace

ROOT = Path(__file__).resolve().parent.parent


def test_demo_records_both_runs_and_they_diff_equivalent() -> None:
    proc = subprocess.run([sys.executable, "demo/run_demo.py"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "tftrace diff: EQUIVALENT" in proc.stdout
    assert proc.stdout.rstrip().endswith("The TF1 Session run and the TF2 eager run are equivalent.")
    a, b = (tftrace.open(ROOT / "demo_out" / f"slim_{side}.zarr") for side in ("tf1", "tf2"))
    assert a.complete and b.complete
    # the diff said equivalent; check the numbers it rests on independently
    for name in ("logits", "loss"):
        assert a.array(name).tobytes() == b.array(name).tobytes()
    kinds_a = {(e.kind, e.name.removesuffix(":0")) for e in a.events if e.kind in ("variable", "snapshot")}
    kinds_b = {(e.kind, e.name.removesuffix(":0")) for e in b.events if e.kind in ("variable", "snapshot")}
    assert kinds_a == kinds_b and len(kinds_a) == 12
