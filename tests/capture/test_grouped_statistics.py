"""Op statistics of a whole ``tf.function`` grouped into one vector (summaries.py).

Both ways of computing them: the one-pass kernel (statistics_kernel.py: one op per
value, their outputs concatenated) and TensorFlow's reductions (per value its own
reductions and slice; the mins, maxs and sums of all values packed per reduction dtype,
float16 reduced in float32, float64 in float64). The host splits the vector back. The
recorded statistics must be numpy's on the same values computed eagerly: whatever the
dtype, with NaN and Inf, with a float32 sum that overflows, with a shape the graph does
not know (an empty one too).
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tftrace  # noqa: E402
from tftrace.format.reader import open_trace  # noqa: E402
from tftrace.recording import statistics_kernel  # noqa: E402
from tftrace.recording.summaries import KERNEL, REDUCTIONS, SUMMARY_SCOPE  # noqa: E402
from tests.capture.kernel_helpers import require_kernel  # noqa: E402

SIGNATURE = [tf.TensorSpec([2, 3], tf.float16), tf.TensorSpec([4], tf.float32),
             tf.TensorSpec([3], tf.float64), tf.TensorSpec([None, 3], tf.float32)]
RNG = np.random.default_rng(0)
CLEAN = (RNG.normal(size=(2, 3)).astype(np.float16), RNG.normal(size=4).astype(np.float32),
         RNG.normal(size=3), RNG.normal(size=(5, 3)).astype(np.float32))
# NaN and both infinities in the float32 value, a NaN in the float16 one, rows whose
# float32 sum overflows on finite values; then no rows at all.
HOSTILE = (np.array([[1.0, np.nan, -2.0], [0.5, 3.0, 4.0]], np.float16),
           np.array([np.nan, np.inf, -np.inf, 1.5], np.float32),
           np.array([1e300, -np.inf, 2.0]),
           np.array([[3e38, 3e38, -1.0], [3e38, 1.0, 2.0]], np.float32))
EMPTY = CLEAN[:3] + (np.zeros((0, 3), np.float32),)
RUNS = (CLEAN, HOSTILE, EMPTY)
NAMES = ["mul:0", "mul_1:0", "add:0", "mul_2:0"]


def program(scale: float):
    def step(a16, a32, a64, rows):
        return a16 * 2.0, a32 * scale, a64 + 1.0, rows * 0.5
    return step


@pytest.fixture(params=[KERNEL, REDUCTIONS], ids=["kernel", "reductions"])
def statistics_path(request, monkeypatch) -> str:
    """The way the statistics are computed: the kernel (built once per machine, cached),
    or TensorFlow's reductions (the kernel switched off, as when it cannot be built)."""
    if request.param == KERNEL:
        require_kernel()
    else:
        monkeypatch.setenv(statistics_kernel.SWITCH_VARIABLE, "off")
    return request.param


def record(path, scale: float = 3.0) -> tuple[list, object]:
    f = tf.function(program(scale), input_signature=SIGNATURE)
    with tftrace.record(path, seed_mode="off", ops="stats", layers="off", gradients="off",
                        optimizer="off"):
        for inputs in RUNS:
            f(*[tf.constant(x) for x in inputs])
    return [e for e in open_trace(path).events if e.kind == "op"], f


def expected() -> list[tuple[str, np.ndarray]]:
    """The program's values computed eagerly (TensorFlow, no recording), per execution."""
    out = []
    for inputs in RUNS:
        values = program(3.0)(*[tf.constant(x) for x in inputs])
        out += list(zip(NAMES, [v.numpy() for v in values]))
    return out


def mismatches(events: list, values: list[tuple[str, np.ndarray]]) -> list[str]:
    """What differs between the recorded statistics and numpy's on the same values."""
    if [e.name for e in events] != [name for name, _ in values]:
        return [f"names {[e.name for e in events]}"]
    found = []
    for event, (name, value) in zip(events, values):
        wide = value.astype(np.float64)
        nan = int(np.isnan(wide).sum())
        got = (event.shape, event.dtype, event.stats.size, event.stats.nan_count, event.stats.inf_count)
        want = (value.shape, value.dtype.name, value.size, nan, int(np.isinf(wide).sum()))
        if got != want:
            found.append(f"{name}: {got} != {want}")
            continue
        kept = wide[~np.isnan(wide)]
        if kept.size == 0:
            if (event.stats.min, event.stats.max, event.stats.mean) != (None, None, None):
                found.append(f"{name}: statistics of no value {event.stats}")
            continue
        if (event.stats.min, event.stats.max) != (kept.min(), kept.max()):
            found.append(f"{name}: min, max {event.stats.min, event.stats.max} != {kept.min(), kept.max()}")
        with np.errstate(invalid="ignore"):
            mean = kept.sum() / kept.size
        if np.isnan(mean) != np.isnan(event.stats.mean) or (
                not np.isnan(mean) and event.stats.mean != pytest.approx(mean, rel=1e-6)):
            found.append(f"{name}: mean {event.stats.mean} != {mean}")
    return found


def test_grouped_statistics_are_numpys_on_the_same_values(tmp_path, statistics_path) -> None:
    events, f = record(tmp_path / "t.zarr")
    values = expected()
    assert mismatches(events, values) == []
    # The hostile execution got through: NaN, Inf, the overflowing sum; then no rows.
    hostile = {e.name: e.stats for e in events[4:8]}
    assert (hostile["mul:0"].nan_count, hostile["mul_1:0"].nan_count, hostile["mul_1:0"].inf_count) == (1, 1, 2)
    assert (hostile["add:0"].min, hostile["add:0"].inf_count) == (-np.inf, 1)
    assert hostile["mul_2:0"].max == np.float32(1.5e38) and hostile["mul_2:0"].inf_count == 0
    assert (events[7].shape, events[11].shape, events[11].stats.size) == ((2, 3), (0, 3), 0)
    assert open_trace(tmp_path / "t.zarr").environment["kernels"]["statistics"] == statistics_path
    graph = f.get_concrete_function().graph
    ops = graph.get_operations()
    if statistics_path == KERNEL:
        # One kernel op per value (the value of unknown shape gives its shape too), no
        # reduction; their outputs concatenated once.
        kernels = [op for op in ops if op.type == statistics_kernel.OP_TYPE]
        assert [op.get_attr("with_shape") for op in kernels] == [False, False, False, True]
        # Read through a reshape to one row (reading the value directly changed a
        # training step's results: docs/benchmarks.md), but for the unknown shape.
        assert [op.inputs[0].op.type for op in kernels] == ["Reshape", "Reshape", "Reshape", "Mul"]
        concat = [op for op in ops if op.type == "ConcatV2" and SUMMARY_SCOPE in op.name]
        assert [[i.op for i in op.inputs[:-1]] for op in concat] == [kernels]
        assert not [op for op in ops if op.type in ("Min", "Max", "Sum")]
        return
    # Grouped: per reduction dtype one Pack of every value's min, max and sum (float16,
    # float32 and the rows reduced in float32: 3 values; float64: 1).
    packs = [op for op in ops if op.type == "Pack" and SUMMARY_SCOPE in op.name
             and all(i.op.type in ("Min", "Max", "Sum") for i in op.inputs)]
    grouped = sorted(len(op.inputs) for op in packs if op.outputs[0].consumers())
    probes = [op for op in packs if not op.outputs[0].consumers()]  # read by the check only
    assert (grouped, len(probes)) == ([3, 3 * 3], 4), (grouped, len(probes))
    assert sum(op.type == "Min" for op in ops) == 4


def test_a_changed_value_is_a_mismatch(tmp_path, statistics_path) -> None:
    # Negative control: the same program with one value scaled otherwise is caught, and
    # only that value (the grouping does not shift statistics between values).
    events, _ = record(tmp_path / "t.zarr", scale=3.5)
    found = mismatches(events, expected())
    assert found and all(line.startswith("mul_1:0") for line in found), found
