"""`make demo`'s job: sample 1 (tf-slim Inception v2) recorded TF1-style and TF2-style
from scratch diffs equivalent; the batch-norm pitfall pair diverges at the moving mean
in step 1 and `tftrace check` flags the frozen statistics; the HTML report of that pair is
written and its path printed; the demo exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent


def test_demo_records_sample_1_and_the_bn_pitfall_and_reports_both(
        tmp_path: Path, assert_inception_pair_matches, assert_bn_pitfall_pair) -> None:
    # --out: not the user's demo_out/, which another run of the suite may be writing
    proc = subprocess.run([sys.executable, "demo/run_demo.py", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    slim, pitfall = out.split("== 2.")
    assert "tftrace diff: EQUIVALENT" in slim
    assert "The TF1 Session run and the TF2 eager run are equivalent." in slim
    assert "tftrace diff: DIVERGED" in pitfall
    assert "First divergence: snapshot 'batch_normalization/moving_mean:0', step 1" in pitfall
    assert "frozen-non-trainable (2)" in pitfall
    assert "This divergence is expected" in pitfall
    assert out.rstrip().endswith("the pitfall pair diverges where expected.")
    report = tmp_path / "bn_pitfall_report.html"
    assert f"The HTML report of the pitfall pair (open it in a browser): {report}" in pitfall
    assert '<code id="first-name">batch_normalization/moving_mean:0</code>' in report.read_text("utf-8")
    # the reports said so; check the numbers they rest on independently
    assert_inception_pair_matches(tmp_path / "inception_v2_session.zarr",
                                  tmp_path / "inception_v2_eager.zarr")
    assert_bn_pitfall_pair(tmp_path / "bn_pitfall_training_missing.zarr",
                           tmp_path / "bn_pitfall_training_true.zarr")
