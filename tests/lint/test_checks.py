from __future__ import annotations

import numpy as np

from tftrace.lint import check
from tftrace.report.check import render_check_text


def codes(result):
    return [f.code for f in result.findings]


def test_clean_trace_has_no_findings(tmp_path, var, write_trace):
    path = write_trace(tmp_path / "t.zarr", [var("w", [1.0, 2.0]), var("b", [0.0, 0.0]),
                                             var("b2", [0.0, 0.0])])  # equal zeros are fine
    result = check(path)
    assert result.ok and render_check_text(result).startswith("tftrace check: OK\n")


def test_variable_created_after_the_first_call(tmp_path, var, write_trace):
    path = write_trace(tmp_path / "t.zarr", [var("w", [1.0], call_index=0), var("w2", [2.0], call_index=1)])
    (finding,) = check(path).findings
    assert finding.code == "late-variable" and finding.seqs == (1,)
    assert "created by call #1" in finding.message and "model.py:11" in finding.message


def test_frozen_non_trainable_variable_in_a_training_run(tmp_path, ev, var, write_trace):
    events = [var("kernel", [1.0]), var("bn/moving_mean", [0.0], trainable=False),
              ev("snapshot", "kernel", np.array([0.9]), step=1),
              ev("snapshot", "bn/moving_mean", np.array([0.0]), step=1),
              ev("snapshot", "kernel", np.array([0.8]), step=2),
              ev("snapshot", "bn/moving_mean", np.array([0.0]), step=2)]
    (finding,) = check(write_trace(tmp_path / "t.zarr", events)).findings
    assert finding.code == "frozen-non-trainable" and "'bn/moving_mean'" in finding.message
    # Not a training run (the kernel never changes either): nothing to say.
    still = [e if e["name"] != "kernel" or e["kind"] == "variable" else ev("snapshot", "kernel", np.array([1.0]), step=e["step"])
             for e in events]
    assert check(write_trace(tmp_path / "u.zarr", still)).ok


def test_nan_inf(tmp_path, ev, write_trace):
    path = write_trace(tmp_path / "t.zarr", [ev("endpoint", "loss", np.array([np.nan, np.inf, 1.0]))])
    (finding,) = check(path).findings
    assert finding.message == "endpoint 'loss' (step 0, seq 0) holds 1 NaN and 1 Inf of 3 values"


def test_random_ops_sharing_seed_and_shape(tmp_path, rnd, write_trace):
    path = write_trace(tmp_path / "t.zarr", [rnd("RandomUniform", (4,), seed=7), rnd("RandomUniform", (4,), seed=7),
                                             rnd("RandomUniform", (5,), seed=7)])
    (finding,) = check(path).findings
    assert finding.code == "shared-random-seed" and finding.seqs == (0, 1)


def test_identical_initial_values(tmp_path, var, write_trace):
    same = np.array([0.3, -0.1, 0.7], np.float32)
    path = write_trace(tmp_path / "t.zarr", [var("a/w", same), var("b/w", same.copy()), var("c/w", same + 1)])
    (finding,) = check(path).findings
    assert finding.code == "identical-initial-values" and finding.seqs == (0, 1)


def test_incomplete_trace_is_a_finding(tmp_path, var, write_trace):
    result = check(write_trace(tmp_path / "t.zarr", [var("w", [1.0])], complete=False))
    assert codes(result) == ["incomplete"]
    assert "INCOMPLETE" in render_check_text(result)
