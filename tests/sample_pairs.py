"""What the sample pairs must hold, checked without tftrace.diff: shared by test_samples.py
and test_demo.py (through the fixtures of the same name in conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import tftrace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "samples"))  # the sample programs' data and constants

import bn_pitfall  # noqa: E402  (numpy only at import: data and constants)
import slim_inception  # noqa: E402


def plain(name: str) -> str:
    return name.removesuffix(":0")


def values(trace: tftrace.Trace, kind: str) -> dict[tuple[str, int], np.ndarray]:
    """(name without :0, step) -> array, for one kind; a name repeated in a step (Keras'
    three int64 counters are all "Variable") gets "#occurrence" from its second time."""
    out: dict[tuple[str, int], np.ndarray] = {}
    for ev in trace.events:
        if ev.kind == kind:
            name = plain(ev.name) + (f"#{ev.occurrence}" if ev.occurrence else "")
            out[(name, ev.step)] = trace.array(ev)
    return out


def assert_inception_pair_matches(session_path: Path, eager_path: Path) -> None:
    """The two runs of sample 1 agree, checked without tftrace.diff."""
    with tftrace.open(session_path) as a, tftrace.open(eager_path) as b:
        variables_a, variables_b = values(a, "variable"), values(b, "variable")
        assert variables_a.keys() == variables_b.keys()
        for key, value in variables_a.items():
            assert value.tobytes() == variables_b[key].tobytes(), key
        # one truncated-normal initializer per weights variable, and the dropout mask
        weights = sorted(tuple(a.array(ev).shape) for ev in a.events if ev.kind == "variable"
                         and plain(ev.name).endswith("weights"))
        depth = variables_a[("InceptionV2/Logits/Conv2d_1c_1x1/weights", 0)].shape[2]
        for trace in (a, b):
            random_ops = [(ev.attrs["op_type"], tuple(ev.shape or ())) for ev in trace.events
                          if ev.kind == "random_op"]
            assert sorted(s for op, s in random_ops if op == "TruncatedNormal") == weights
            assert [s for op, s in random_ops if op != "TruncatedNormal"] == \
                [(slim_inception.BATCH, 1, 1, depth)]
        endpoints_a, endpoints_b = values(a, "endpoint"), values(b, "endpoint")
        assert set(endpoints_a) == set(endpoints_b) == {
            (name, 0) for name in (*slim_inception.END_POINTS, "regularization_loss", "loss")}
        for key, value in endpoints_a.items():  # the migration guide's tolerance
            np.testing.assert_allclose(endpoints_b[key], value, rtol=1e-6, atol=1e-5, err_msg=key)
        snapshots_a, snapshots_b = values(a, "snapshot"), values(b, "snapshot")
        assert snapshots_a.keys() == snapshots_b.keys() == {(n, 0) for n, _ in variables_a}
        for key, value in snapshots_a.items():
            np.testing.assert_allclose(snapshots_b[key], value, rtol=1e-6, atol=1e-5, err_msg=key)
        # training mode: every batch-norm moving mean left its zeros in the one step
        moving_means = [key for key in snapshots_a if key[0].endswith("moving_mean")]
        assert moving_means
        for key in moving_means:
            assert not np.array_equal(snapshots_a[key], variables_a[(key[0], 0)]), key
            assert not np.array_equal(snapshots_b[key], variables_b[(key[0], 0)]), key


def expected_moving_statistics(step: int) -> tuple[np.ndarray, np.ndarray]:
    """Keras' update, from the sample's batches: after ``step`` steps with training=True."""
    mean, variance = np.zeros(bn_pitfall.FEATURES), np.ones(bn_pitfall.FEATURES)
    for k in range(1, step + 1):
        features, _ = bn_pitfall.data(k)
        m = bn_pitfall.MOMENTUM
        mean = m * mean + (1 - m) * features.mean(axis=0, dtype=np.float64)
        variance = m * variance + (1 - m) * features.var(axis=0, dtype=np.float64)
    return mean, variance


MOVING_MEAN, MOVING_VARIANCE = "batch_normalization/moving_mean", "batch_normalization/moving_variance"


def assert_bn_pitfall_pair(missing_path: Path, fixed_path: Path) -> None:
    """Moving statistics: frozen at their initial values without training=True,
    Keras' moving average of the batches with it. Checked without tftrace."""
    steps = range(bn_pitfall.STEPS + 1)
    with tftrace.open(missing_path) as missing, tftrace.open(fixed_path) as fixed:
        frozen, updated = values(missing, "snapshot"), values(fixed, "snapshot")
        for step in steps:
            np.testing.assert_array_equal(frozen[(MOVING_MEAN, step)], np.zeros(bn_pitfall.FEATURES))
            np.testing.assert_array_equal(frozen[(MOVING_VARIANCE, step)], np.ones(bn_pitfall.FEATURES))
            mean, variance = expected_moving_statistics(step)
            np.testing.assert_allclose(updated[(MOVING_MEAN, step)], mean, rtol=1e-5)
            np.testing.assert_allclose(updated[(MOVING_VARIANCE, step)], variance, rtol=1e-5)
        # the Dense layers train in both runs
        for trace in (frozen, updated):
            assert not np.array_equal(trace[("dense/kernel", 0)], trace[("dense/kernel", 1)])
