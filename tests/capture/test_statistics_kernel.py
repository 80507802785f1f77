"""The one-pass statistics kernel (recording/statistics_kernel.py and its C++ source).

Its numbers must be numpy's on the same values (float16, bfloat16, float32, float64;
NaN, both infinities, empty, 0-d, several blocks, a float32 sum that overflows on finite
values, a shape the graph does not know), bit-equal from one call to the next and
whatever the threads; a second process loads the cached library without compiling; a
broken compiler leaves the statistics to TensorFlow's reductions, said once; and a diff
of a run computed each way is equivalent and notes the difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tftrace  # noqa: E402
from tftrace.format.reader import open_trace  # noqa: E402
from tftrace.recording import statistics_kernel  # noqa: E402
from tests.capture.kernel_helpers import require_kernel  # noqa: E402

DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32,
          "float64": np.float64}
RNG = np.random.default_rng(0)
BLOCKS = RNG.normal(size=200_003)  # four blocks of 65536 and a tail: the threaded path
LATE = BLOCKS.copy()
LATE[[70_000, 150_000, 150_001]] = [np.nan, -np.inf, np.nan]  # in later blocks only
CASES = {
    "normal": RNG.normal(size=1000) * 3 + 1,
    "blocks": BLOCKS,
    "late-nan-inf": LATE,
    "nan-inf": np.array([[1.5, np.nan, np.inf], [-np.inf, -2.0, 0.25]]),
    "all-nan": np.full(5, np.nan),
    "only-inf": np.array([np.inf, np.inf]),
    "empty": np.zeros((0, 3)),
    "scalar": np.array(3.0),
}


@pytest.fixture(scope="module")
def op():
    return require_kernel().op


def reference(values: np.ndarray) -> list[float]:
    """numpy's numbers, in float64 on the values as stored: min and max over the values
    that are not NaN (+-Inf when there is none), the finite values' sum, the counts."""
    wide = values.astype(np.float64).ravel()
    kept, finite = wide[~np.isnan(wide)], wide[np.isfinite(wide)]
    return [kept.min() if kept.size else np.inf, kept.max() if kept.size else -np.inf,
            finite.sum(), np.isnan(wide).sum(), (wide == np.inf).sum(), (wide == -np.inf).sum()]


def mismatches(got: np.ndarray, values: np.ndarray, dtype: str) -> list[str]:
    """What differs between the kernel's numbers and numpy's. The sum is accumulated in
    float32 for float32 and narrower values: within 1e-6 of the sum of magnitudes."""
    want = reference(values)
    found = [f"{field} {g} != {w}" for field, g, w in zip(("min", "max"), got[:2], want[:2]) if g != w]
    found += [f"{field} {g} != {w}" for field, g, w in zip(("nan", "+inf", "-inf"), got[3:6], want[3:6])
              if g != w]
    wide = values.astype(np.float64).ravel()
    scale = np.abs(wide[np.isfinite(wide)]).sum()
    if abs(got[2] - want[2]) > (1e-12 if dtype == "float64" else 1e-6) * scale:
        found.append(f"sum {got[2]} != {want[2]}")
    return found


@pytest.mark.parametrize("dtype", list(DTYPES), ids=list(DTYPES))
def test_kernel_statistics_are_numpys(op, dtype) -> None:
    found = []
    for name, raw in CASES.items():
        values = raw.astype(DTYPES[dtype])
        got = op(tf.constant(values)).numpy()
        assert got.shape == (6,), (name, got)
        found += [f"{name}: {line}" for line in mismatches(got, values, dtype)]
    assert found == []


def test_a_changed_value_is_a_mismatch(op) -> None:
    # Negative control: the kernel's numbers of one array against numpy's of another
    # that differs in one element (not the min nor the max): the sum is caught.
    values = CASES["normal"].astype(np.float32)
    changed = values.copy()
    changed[10] += 0.5
    found = mismatches(op(tf.constant(values)).numpy(), changed, "float32")
    assert [line.split()[0] for line in found] == ["sum"], found


def test_a_sum_overflowing_on_finite_values(op) -> None:
    # float32: the finite values overflow a float32 sum; summed again in float64 (as the
    # reductions' host fallback does). float64: infinite, as numpy's float64 sum.
    narrow = np.array([3e38, 3e38, -1.0, 3e38, 1.0, 2.0], np.float32)
    got = op(tf.constant(narrow)).numpy()
    assert np.isfinite(got[2]) and got[2] == pytest.approx(narrow.astype(np.float64).sum(), rel=1e-6)
    assert list(got[3:]) == [0, 0, 0]
    wide = np.array([1e308, 1e308, -1.0])
    assert op(tf.constant(wide)).numpy()[2] == np.inf
    assert mismatches(got, narrow, "float32") == []


def test_shapes_the_graph_does_not_know(op) -> None:
    # with_shape: the rank and dimensions follow, as the run gives them.
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec(None, tf.float64)])
    def f(rows, anything):
        return op(rows, with_shape=True), op(anything, with_shape=True)

    rows, anything = np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros((0, 4, 1))
    got_rows, got_any = (t.numpy() for t in f(tf.constant(rows), tf.constant(anything)))
    assert list(got_rows) == [0, 5, 15, 0, 0, 0, 2, 2, 3]
    assert list(got_any) == [np.inf, -np.inf, 0, 0, 0, 0, 3, 0, 4, 1]
    assert f.get_concrete_function().structured_outputs[0].shape.as_list() == [None]


CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    from tftrace.recording import statistics_kernel
    library = statistics_kernel.library()
    values = (np.random.default_rng(1).normal(size=1_000_003) * 1e3).astype(np.float32)
    got = library.op(tf.constant(values)).numpy()
    print(json.dumps({"built": library.built, "path": str(library.path), "bits": got.tobytes().hex()}))
""")


def test_same_bits_every_call_whatever_the_threads_and_the_cache_serves_other_processes(op) -> None:
    values = (np.random.default_rng(1).normal(size=1_000_003) * 1e3).astype(np.float32)  # 16 blocks
    first, again = (op(tf.constant(values)).numpy() for _ in range(2))
    assert first.tobytes() == again.tobytes()
    # The order of the additions shows in the bits (so bit-equality is not vacuous): the
    # same values reversed sum to other bits.
    assert op(tf.constant(values[::-1].copy())).numpy()[2] != first[2]
    # Another process, one intra-op thread, the same cache: loads without compiling and
    # gets the same bits.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert (child["built"], child["path"]) == (False, str(statistics_kernel.library().path))
    assert child["bits"] == first.tobytes().hex()
    cache = statistics_kernel.library_path().parent
    assert not list(cache.glob("*.tmp")), "a half-written library was left in the cache"


def test_a_broken_compiler_falls_back_to_the_reductions_once(tmp_path, monkeypatch, capsys) -> None:
    compiler = tmp_path / "c++"
    compiler.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo "broken 1.0"; exit 0; fi\n'
                        'echo "statistics_kernel.cc:1:1: error: this compiler is broken" >&2\nexit 1\n')
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    monkeypatch.setenv(statistics_kernel.CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setattr(statistics_kernel, "_library", None)  # this process starts over
    f = tf.function(lambda x: x * 2.0, input_signature=[tf.TensorSpec([3], tf.float32)])
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off", ops="stats", layers="off",
                        gradients="off", optimizer="off"):
        f(tf.constant([1.0, -4.0, np.nan]))
        f(tf.constant([2.0, 0.5, 1.0]))
    assert statistics_kernel.statistics_op() is None
    err = capsys.readouterr().err
    assert err.count("the statistics kernel is not available") == 1, err
    assert "error: this compiler is broken" in err
    # Nothing half-written left (the lock file that serializes builds stays).
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"] == []
    trace = open_trace(tmp_path / "t.zarr")
    assert trace.environment["kernels"]["statistics"] == "reductions"
    stats = [e.stats for e in trace.events if e.kind == "op"]
    assert [(s.min, s.max, s.nan_count) for s in stats] == [(-8.0, 2.0, 1), (1.0, 4.0, 0)]


def record_both(tmp_path, monkeypatch, scale_b: float = 2.0) -> tuple:
    """The same function recorded with the kernel (A) and with the reductions (B)."""
    values = tf.constant(RNG.normal(size=(64, 257)).astype(np.float32) + 0.1)
    paths = []
    for side, scale in (("a", 2.0), ("b", scale_b)):
        if side == "b":
            monkeypatch.setenv(statistics_kernel.SWITCH_VARIABLE, "off")
        f = tf.function(lambda x, s=scale: tf.nn.relu(x * s) + 1.0)
        path = tmp_path / f"{side}.zarr"
        with tftrace.record(path, seed_mode="off", ops="stats", layers="off", gradients="off",
                            optimizer="off"):
            f(values)
        paths.append(path)
    return tuple(paths)


def test_a_diff_of_the_two_ways_is_equivalent_and_notes_it(tmp_path, monkeypatch, op) -> None:
    a, b = record_both(tmp_path, monkeypatch)
    assert [open_trace(p).environment["kernels"]["statistics"] for p in (a, b)] == ["kernel", "reductions"]
    result = tftrace.diff(a, b)
    assert result.equivalent, result.first_divergence
    assert [n for n in result.notes if "in-graph statistics" in n] == [
        "in-graph statistics (min, max, mean: one-pass kernel or TensorFlow's reductions, equal "
        "up to the mean's last bits) differ: A kernel, B reductions"]


def test_a_changed_program_diffs_across_the_two_ways(tmp_path, monkeypatch, op) -> None:
    # Negative control: the statistics still tell a changed value apart.
    a, b = record_both(tmp_path, monkeypatch, scale_b=2.001)
    assert not tftrace.diff(a, b).equivalent
