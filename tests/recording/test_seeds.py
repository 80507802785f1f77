"""Seed control gives exactly DeterministicRandomTestTool's numbers, in graphs and eagerly."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tests.recording.recording_helpers import arrays, events, requires_keras3
from tftrace.errors import SeedReuseError

MODES = [pytest.param("num_random_ops", id="num_random_ops"),
         pytest.param("constant", id="constant")]


def guide_draws_graph():
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        a = tf.random.uniform(shape=(3, 1)) * 3
        b = tf.random.uniform(shape=(3, 3)) * 3
        c = tf.random.uniform(shape=(3, 3)) * 3
        return sess.run([a, b, c])


def guide_draws_eager():
    a = tf.random.uniform(shape=(3, 1)) * 3
    b = tf.random.uniform(shape=(3, 3)) * 3
    c = tf.random.uniform(shape=(3, 3)) * 3
    return [a.numpy(), b.numpy(), c.numpy()]


def reference(mode, draws):
    tool = tf.compat.v1.keras.utils.DeterministicRandomTestTool(mode=mode)
    with tool.scope():
        return draws()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("draws", [pytest.param(guide_draws_graph, id="session"),
                                   pytest.param(guide_draws_eager, id="eager")])
def test_guide_example_matches_deterministic_random_test_tool(tmp_path, mode, draws):
    expected = reference(mode, draws)
    with tftrace.record(tmp_path / "t.zarr", seed=42, seed_mode=mode):
        got = draws()
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)
    # and what was recorded is what the program drew, unscaled
    recorded = arrays(tmp_path / "t.zarr", "random_op")
    assert len(recorded) == 3
    for r, g in zip(recorded, got):
        np.testing.assert_array_equal(r * 3, g)


@pytest.mark.parametrize("mode", MODES)
def test_session_and_eager_agree_and_constant_mode_repeats(tmp_path, mode):
    with tftrace.record(tmp_path / "g.zarr", seed_mode=mode):
        graph_abc = guide_draws_graph()
    with tftrace.record(tmp_path / "e.zarr", seed_mode=mode):
        eager_abc = guide_draws_eager()
    for g, e in zip(graph_abc, eager_abc):
        np.testing.assert_array_equal(g, e)
    _, b, c = eager_abc
    if mode == "constant":
        np.testing.assert_array_equal(b, c)
    else:
        assert not np.array_equal(b, c)
    seeds = [e.attrs["seed"] for e in events(tmp_path / "g.zarr", "random_op")]
    assert seeds == ([[42, 0]] * 3 if mode == "constant" else [[42, 0], [42, 1], [42, 2]])


@pytest.mark.parametrize("graph_mode", [pytest.param(True, id="graph"),
                                        pytest.param(False, id="eager")])
def test_operation_seed_is_settable_and_reuse_raises_like_the_tool(tmp_path, graph_mode):
    def program(seeder):
        tf.random.uniform((2,))
        assert seeder.operation_seed == 1
        seeder.operation_seed = 10
        tf.random.uniform((2,))
        assert seeder.operation_seed == 11
        seeder.operation_seed = 10
        tf.random.uniform((2,))  # reuses 10

    def run(seeder):
        if graph_mode:
            with tf.Graph().as_default():
                program(seeder)
        else:
            program(seeder)

    tool = tf.compat.v1.keras.utils.DeterministicRandomTestTool(mode="num_random_ops")
    with tool.scope(), pytest.raises(ValueError, match="operation seed 10"):
        run(tool)
    with tftrace.record(tmp_path / "t.zarr") as rec:
        with pytest.raises(SeedReuseError, match="operation seed 10"):
            run(rec)
    assert issubclass(SeedReuseError, ValueError)


def test_seed_mode_off_leaves_tensorflow_seeding_alone(tmp_path):
    def program():
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            tf.compat.v1.set_random_seed(7)
            x = tf.random.normal((4,))
            y = tf.random.uniform((4,), seed=3)
            return sess.run([x, y])

    expected = program()
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off"):
        got = program()
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)
    assert [e.attrs["seed"] for e in events(tmp_path / "t.zarr", "random_op")] == [[7, 0], [7, 3]]


def test_invalid_seed_mode_lists_the_valid_ones(tmp_path):
    with pytest.raises(tftrace.TftraceError, match="num_random_ops, constant, off"):
        with tftrace.record(tmp_path / "t.zarr", seed_mode="sometimes"):
            pass


def keras3_forward():
    import keras

    model = keras.Sequential([keras.layers.Dense(3), keras.layers.Dropout(0.5)])
    out = model(np.ones((2, 4), np.float32), training=True).numpy()
    weights = [w.numpy() for w in model.weights]
    assert len(weights) == 2  # kernel, bias
    return weights, out


@requires_keras3
def test_keras3_default_seeds_come_from_the_recording_seed(tmp_path):
    import random

    keras3_forward()  # first-import costs (Keras draws from `random` while importing)
    random.seed(1)
    with tftrace.record(tmp_path / "a.zarr", seed=5):
        weights_a, out_a = keras3_forward()
    after_a = random.random()
    random.seed(2)  # another program state: Keras would draw other default seeds
    with tftrace.record(tmp_path / "b.zarr", seed=5):
        weights_b, out_b = keras3_forward()
    after_b = random.random()
    for a, b in zip(weights_a + [out_a], weights_b + [out_b]):
        np.testing.assert_array_equal(a, b)
    # The program's own `random` stream is untouched by the recording.
    random.seed(1)
    assert after_a == random.random()
    random.seed(2)
    assert after_b == random.random()
    with tftrace.record(tmp_path / "c.zarr", seed=6):
        weights_c, _ = keras3_forward()
    assert not np.array_equal(weights_a[0], weights_c[0])
    # seed_mode="off" leaves Keras's own seeding alone: two runs differ.
    with tftrace.record(tmp_path / "d.zarr", seed_mode="off"):
        weights_d, _ = keras3_forward()
    with tftrace.record(tmp_path / "e.zarr", seed_mode="off"):
        weights_e, _ = keras3_forward()
    assert not np.array_equal(weights_d[0], weights_e[0])


def test_tf_keras_default_seeds_come_from_the_recording_seed(tmp_path):
    import random

    def forward():
        model = tf.keras.Sequential([tf.keras.layers.Dense(3)])  # tf-keras (TF_USE_LEGACY_KERAS)
        model(np.ones((2, 4), np.float32))
        return model.weights[0].numpy()

    forward()
    random.seed(1)
    with tftrace.record(tmp_path / "a.zarr", seed=5):
        kernel_a = forward()
    random.seed(2)
    with tftrace.record(tmp_path / "b.zarr", seed=5):
        kernel_b = forward()
    np.testing.assert_array_equal(kernel_a, kernel_b)
    assert not np.array_equal(forward(), forward())  # outside a recording: Keras's own seeds
