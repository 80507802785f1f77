"""Layer statistics computed inside a tf.function's graph (level ``stats``) are the
statistics the writer computes from the same values recorded eagerly."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
import tensorflow as tf  # noqa: E402

import tftrace  # noqa: E402
from tftrace.format.reader import open_trace  # noqa: E402

CLEAN = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
HOSTILE = CLEAN.copy()
HOSTILE[0, 1], HOSTILE[2, 3], HOSTILE[3, 0] = np.nan, np.inf, -np.inf


def model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(5, name="dense")(inputs)
    outputs = keras.layers.Dense(3, activation="relu", name="out")(h)
    return keras.Model(inputs, outputs, name="m")


def record(path, as_function: bool, inputs) -> list:
    net = model()
    call = tf.function(lambda x: net(x)) if as_function else net
    with tftrace.record(path, seed_mode="off", layers="stats", gradients="off", optimizer="off"):
        for x in inputs:
            call(tf.constant(x))
    return [e for e in open_trace(path).events if e.kind == "layer"]


def test_in_graph_statistics_match_the_writers_including_nan_and_inf(tmp_path) -> None:
    in_graph = record(tmp_path / "f.zarr", True, [CLEAN, HOSTILE])
    eager = record(tmp_path / "e.zarr", False, [CLEAN, HOSTILE])
    assert [e.name for e in in_graph] == [e.name for e in eager] == ["m/dense", "m/out", "m"] * 2
    for f, e in zip(in_graph, eager):
        assert f.digest is None and not f.stored and e.digest is not None
        assert (f.shape, f.dtype) == (e.shape, e.dtype)
        assert (f.stats.size, f.stats.nan_count, f.stats.inf_count) == \
               (e.stats.size, e.stats.nan_count, e.stats.inf_count)
        assert (f.stats.min, f.stats.max) == (e.stats.min, e.stats.max)
        if e.stats.mean is None or not np.isfinite(e.stats.mean):
            assert f.stats.mean == e.stats.mean or (np.isnan(f.stats.mean) and np.isnan(e.stats.mean))
        else:
            assert f.stats.mean == pytest.approx(e.stats.mean, rel=1e-6)
    assert in_graph[3].stats.nan_count > 0 and in_graph[3].stats.inf_count > 0  # the hostile input got through


def test_a_trace_of_in_graph_statistics_diffs_against_an_eager_one(tmp_path) -> None:
    record(tmp_path / "f.zarr", True, [CLEAN])
    record(tmp_path / "e.zarr", False, [CLEAN])
    result = tftrace.diff(tmp_path / "f.zarr", tmp_path / "e.zarr", only="layers")
    assert result.verdict == "equivalent" and result.compared == 3
    # Negative control: another input gives other statistics, and the diff says so.
    record(tmp_path / "other.zarr", True, [CLEAN * 1.5])
    other = tftrace.diff(tmp_path / "other.zarr", tmp_path / "e.zarr", only="layers")
    assert other.first_divergence is not None and other.first_divergence.problem == "statistics"


def test_statistics_with_a_nan_mean_on_both_sides_agree(tmp_path) -> None:
    # Two runs of the same tf.function on an input with NaN: every layer's mean is NaN
    # on both sides, and NaN in the same places is agreement, not a divergence.
    record(tmp_path / "a.zarr", True, [HOSTILE])
    layers = record(tmp_path / "b.zarr", True, [HOSTILE])
    assert any(np.isnan(e.stats.mean) for e in layers)
    result = tftrace.diff(tmp_path / "a.zarr", tmp_path / "b.zarr", only="layers")
    assert result.verdict == "equivalent" and result.compared == 3
    # Negative control: NaN in another place of the input changes the NaN count of a layer.
    moved = HOSTILE.copy()
    moved[1, 1] = np.nan
    record(tmp_path / "moved.zarr", True, [moved])
    other = tftrace.diff(tmp_path / "a.zarr", tmp_path / "moved.zarr", only="layers")
    assert other.first_divergence is not None and other.first_divergence.problem == "statistics"


def test_op_statistics_in_a_function_cover_its_ops_and_none_of_tftraces(tmp_path) -> None:
    # The statistics ops tftrace adds to the function are not ops of the program: the op
    # capture must not observe them (it did, each getting statistics ops of its own,
    # until the recursion limit). Expected: the program's three ops, per execution.
    x = np.array([[1.0, -2.0], [3.0, 4.0]], np.float32)
    f = tf.function(lambda v: tf.nn.relu(v * 2.0) + 1.0)
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off", ops="stats", layers="off",
                        gradients="off", optimizer="off"):
        f(tf.constant(x))
        f(tf.constant(x))
    events = open_trace(tmp_path / "t.zarr").events
    assert [e.name for e in events] == ["mul:0", "Relu:0", "add:0"] * 2
    expected = [x * 2, np.maximum(x * 2, 0), np.maximum(x * 2, 0) + 1] * 2
    for event, value in zip(events, expected):
        assert event.digest is None and not event.stored and event.shape == (2, 2)
        assert (event.stats.min, event.stats.max, event.stats.mean) == (value.min(), value.max(), value.mean())


def test_a_shape_the_graph_does_not_know_comes_with_the_statistics(tmp_path) -> None:
    # With an input signature of unknown batch size, each execution's shape is the run's.
    f = tf.function(lambda v: v * 2.0, input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    runs = [np.array([[1.0, -2.0], [3.0, 4.0], [5.0, 0.5]], np.float32), np.array([[7.0, 1.0]], np.float32)]
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off", ops="stats", layers="off",
                        gradients="off", optimizer="off"):
        for x in runs:
            f(tf.constant(x))
    events = open_trace(tmp_path / "t.zarr").events
    assert [(e.name, e.shape) for e in events] == [("mul:0", (3, 2)), ("mul:0", (1, 2))]
    for event, x in zip(events, runs):
        assert (event.stats.size, event.stats.min, event.stats.max) == (x.size, (x * 2).min(), (x * 2).max())
        # numpy's float32 mean rounds to float32; the recorded mean may be the closer float64
        assert event.stats.mean == pytest.approx(float((x * 2).astype(np.float64).mean()), rel=1e-7)
