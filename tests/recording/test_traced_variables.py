"""Variables created while a tf.function is first traced are recorded with their initial
value (before any update of the first execution) and their name, and replay gives them
run A's values: Keras 3 fit with a lazy build, optimizer slots, tf-keras fit, the shim
first called in a tf.function, TF1 optimizer slots in a Session."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tf_keras

import tftrace
from tests.recording.recording_helpers import requires_keras3
from tftrace.format.reader import open_trace

X = np.random.default_rng(0).random((32, 4), dtype=np.float32)
Y = np.random.default_rng(1).random((32, 1), dtype=np.float32)


def keras3_fit(path, *, eager_build: bool = False, seed: int = 42, replay=None) -> keras.Model:
    """A Keras 3 model trained with fit; built lazily inside fit's tf.function unless
    ``eager_build``."""
    keras.backend.clear_session()  # the same names (optimizer "adam", not "adam_1") every time
    recording = tftrace.replay(replay, record_to=path, seed=seed) if replay else \
        tftrace.record(path, seed=seed)
    with recording:
        model = keras.Sequential([keras.layers.Dense(8, activation="relu", name="hidden"),
                                  keras.layers.Dropout(0.3, name="drop"),
                                  keras.layers.Dense(1, name="out")], name="net")
        if eager_build:
            model.build((None, 4))
        model.compile(optimizer="adam", loss="mse")
        # no shuffling: tf.data's random op runs in its own thread, in no fixed order
        model.fit(X, Y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    return model


def variables(path) -> dict[str, tuple]:
    trace = open_trace(path)
    return {e.name: (e, trace.array(e) if e.stored else None)
            for e in trace.events if e.kind == "variable"}


@requires_keras3
def test_keras3_fit_with_a_lazy_build_records_weights_and_slots_before_training(tmp_path):
    model = keras3_fit(tmp_path / "lazy.zarr")
    keras3_fit(tmp_path / "eager.zarr", eager_build=True)
    lazy, eager = variables(tmp_path / "lazy.zarr"), variables(tmp_path / "eager.zarr")
    weights = ["net/hidden/kernel", "net/hidden/bias", "net/out/kernel", "net/out/bias"]
    slots = ["adam/net_hidden_kernel_momentum", "adam/net_out_kernel_velocity"]
    assert set(weights + slots) <= set(lazy)
    for name in weights + slots:  # the values an eager build records, bit for bit
        np.testing.assert_array_equal(lazy[name][1], eager[name][1], err_msg=name)
    assert lazy["net/hidden/kernel"][0].attrs["function"] == "one_step_on_data"
    np.testing.assert_array_equal(lazy["adam/net_hidden_kernel_momentum"][1], np.zeros((4, 8)))
    # initial values, not values after the training step
    assert not np.array_equal(lazy["net/hidden/kernel"][1], model.layers[0].kernel.numpy())
    draws = [e for e in open_trace(tmp_path / "lazy.zarr").events
             if e.kind == "random_op" and e.attrs.get("initializer")]
    assert [d.attrs["variable"] for d in draws] == ["net/hidden/kernel", "net/out/kernel"]


@requires_keras3
def test_replay_gives_traced_variables_a_s_values(tmp_path):
    keras3_fit(tmp_path / "a.zarr")
    keras3_fit(tmp_path / "b.zarr", seed=7, replay=tmp_path / "a.zarr")
    result = tftrace.diff(tmp_path / "a.zarr", tmp_path / "b.zarr")
    assert result.verdict == "equivalent", result.first_divergence
    kernel = variables(tmp_path / "b.zarr")["net/hidden/kernel"][0]
    assert kernel.attrs["replayed"] is True
    # Negative control: the same run with its own seed and no replay starts elsewhere.
    keras3_fit(tmp_path / "c.zarr", seed=7)
    own = tftrace.diff(tmp_path / "a.zarr", tmp_path / "c.zarr")
    assert own.verdict == "diverged"
    assert any(p.kind == "variable" and p.status == "diverged" for p in own.pairs)


def tf_keras_fit(path, eager_build=False, seed=42, replay=None):
    tf_keras.backend.clear_session()
    recording = tftrace.replay(replay, record_to=path, seed=seed) if replay else \
        tftrace.record(path, seed=seed)
    with recording:
        model = tf_keras.Sequential([tf_keras.layers.Dense(8, activation="relu", name="hidden"),
                                     tf_keras.layers.Dropout(0.3, name="drop"),
                                     tf_keras.layers.Dense(1, name="out")])
        if eager_build:
            model.build((None, 4))
        model.compile(optimizer="adam", loss="mse")
        model.fit(X, Y, epochs=1, batch_size=16, verbose=0, shuffle=False)


def test_tf_keras_fit_with_a_lazy_build(tmp_path):
    tf_keras_fit(tmp_path / "lazy.zarr")
    tf_keras_fit(tmp_path / "eager.zarr", eager_build=True)
    lazy, eager = variables(tmp_path / "lazy.zarr"), variables(tmp_path / "eager.zarr")
    for name in ("hidden/kernel:0", "out/bias:0", "Adam/m/hidden/kernel:0", "Adam/v/out/kernel:0"):
        assert lazy[name][1] is not None, name
        np.testing.assert_array_equal(lazy[name][1], eager[name][1], err_msg=name)
    assert not open_trace(tmp_path / "lazy.zarr").environment["not_captured"]


def test_tf_keras_fit_replays_its_counters_and_weights(tmp_path):
    """tf-keras names several counters "Variable:0": the k-th takes A's k-th."""
    tf_keras_fit(tmp_path / "a.zarr")
    tf_keras_fit(tmp_path / "b.zarr", seed=7, replay=tmp_path / "a.zarr")
    assert tftrace.diff(tmp_path / "a.zarr", tmp_path / "b.zarr").verdict == "equivalent"
    tf_keras_fit(tmp_path / "c.zarr", seed=7)  # negative control: no replay
    own = tftrace.diff(tmp_path / "a.zarr", tmp_path / "c.zarr")
    assert own.verdict == "diverged"
    assert any(p.kind == "variable" and p.status == "diverged" for p in own.pairs)


class Shim(tf_keras.layers.Layer):
    @tf.compat.v1.keras.utils.track_tf1_style_variables
    def call(self, x):
        with tf.compat.v1.variable_scope("shim"):
            w = tf.compat.v1.get_variable("w", (3, 2),
                                          initializer=tf.compat.v1.random_normal_initializer())
            return tf.matmul(x, w)


def test_shim_first_called_inside_a_tf_function(tmp_path):
    recorded = {}
    for first_call in ("eager", "tf.function"):
        with tftrace.record(tmp_path / f"{first_call}.zarr"):
            shim = Shim()
            call = shim if first_call == "eager" else tf.function(lambda x: shim(x))
            call(tf.ones((1, 3)))
        recorded[first_call] = variables(tmp_path / f"{first_call}.zarr")
        assert list(recorded[first_call]) == ["shim/w:0"]
        np.testing.assert_array_equal(recorded[first_call]["shim/w:0"][1], shim.weights[0].numpy())
    np.testing.assert_array_equal(recorded["tf.function"]["shim/w:0"][1],
                                  recorded["eager"]["shim/w:0"][1])


def test_tf1_optimizer_slots_in_a_session(tmp_path):
    with tftrace.record(tmp_path / "t.zarr"):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            w = tf.compat.v1.get_variable("w", (3,), initializer=tf.compat.v1.ones_initializer())
            loss = tf.reduce_sum(tf.square(w))
            train = tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss)
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(train)
    recorded = variables(tmp_path / "t.zarr")
    assert {"w:0", "w/Adam:0", "w/Adam_1:0", "beta1_power:0", "beta2_power:0"} <= set(recorded)
    np.testing.assert_array_equal(recorded["w/Adam:0"][1], np.zeros(3))
    np.testing.assert_allclose(recorded["beta1_power:0"][1], 0.9)


def test_an_initializer_tensorflow_cannot_lift_is_read_after_the_first_execution(tmp_path):
    class Scaled(tf.Module):
        def __init__(self):
            self.v = None

        @tf.function
        def __call__(self, x):
            if self.v is None:
                self.v = tf.Variable(x * 2.0, name="from_input")  # depends on the input
            self.v.assign_add(x)
            return self.v

    with tftrace.record(tmp_path / "t.zarr"):
        Scaled()(tf.ones(2))
    (event, value) = variables(tmp_path / "t.zarr")["from_input:0"]
    assert event.attrs["initial_value"] == "after-first-execution"
    np.testing.assert_array_equal(value, [3.0, 3.0])  # 2 from the initializer, +1 from the step
    (gap,) = open_trace(tmp_path / "t.zarr").environment["not_captured"]
    assert (gap["name"], gap["reason"]) == ("from_input:0", "initial-value-after-update")
