"""The capture engines on real models: layer names agree across execution modes, op
capture changes no number and records its dataflow edges, levels and filters hold,
XLA-compiled functions are listed as not captured."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tests.capture.capture_models import images, run_session, run_shim
from tftrace.errors import UsageError
from tftrace.format.reader import open_trace

keras = pytest.importorskip("keras")
KERAS3 = int(keras.__version__.split(".")[0]) >= 3
requires_keras3 = pytest.mark.skipif(not KERAS3, reason="needs Keras 3")


def layer_names(path):
    return [e.name for e in open_trace(path).events if e.kind == "layer"]


def keras3_nested():
    inner = keras.Sequential([keras.layers.Dense(8, activation="relu", name="dense"),
                              keras.layers.Dense(4, name="proj")], name="block")
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(inner(inputs)), name="net")


def tf_keras_nested():
    inner = tf.keras.Sequential([tf.keras.layers.Dense(8, activation="relu", name="dense"),
                                 tf.keras.layers.Dense(4, name="proj")], name="block")
    inputs = tf.keras.Input((6,))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="head")(inner(inputs)), name="net")


NESTED = ["net/block/dense", "net/block/proj", "net/block", "net/head", "net"]


@pytest.mark.parametrize("build", [pytest.param(keras3_nested, id="keras3", marks=requires_keras3),
                                   pytest.param(tf_keras_nested, id="tf_keras")])
@pytest.mark.parametrize("function", [pytest.param(False, id="eager"),
                                      pytest.param(True, id="tf_function")])
def test_nested_keras_layers_are_named_by_their_path(tmp_path, build, function):
    x = tf.constant(np.ones((2, 6), np.float32))
    with tftrace.record(tmp_path / "t.zarr", layers="full"):
        model = build()
        out = (tf.function(lambda v: model(v)) if function else model)(x)
    assert layer_names(tmp_path / "t.zarr") == NESTED
    trace = open_trace(tmp_path / "t.zarr")
    last = [e for e in trace.events if e.kind == "layer"][-1]
    np.testing.assert_array_equal(trace.array(last), out.numpy())  # the model's output


def compat_v1_net(x):
    h = tf.compat.v1.layers.dense(x, 8, activation=tf.nn.relu, name="fc1")
    return tf.compat.v1.layers.dense(h, 3, name="fc2")


def test_tf1_layers_have_the_same_names_in_a_session_and_through_the_shim(tmp_path):
    with tftrace.record(tmp_path / "s.zarr"):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session() as session:
            out = compat_v1_net(tf.constant(np.ones((2, 6), np.float32)))
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(out)

    class Shim(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, x):
            return compat_v1_net(x)

    with tftrace.record(tmp_path / "e.zarr"):
        Shim(name="shim")(tf.constant(np.ones((2, 6), np.float32)))
    assert layer_names(tmp_path / "s.zarr") == ["fc1", "fc2"]
    assert layer_names(tmp_path / "e.zarr") == ["fc1", "fc2", "shim"]  # the wrapper, last


def test_slim_layers_in_a_session_and_through_the_shim(tmp_path):
    with tftrace.record(tmp_path / "s.zarr"):
        run_session()
    with tftrace.record(tmp_path / "e.zarr"):
        run_shim()
    expected = ["conv1/BatchNorm", "conv1", "conv2/BatchNorm", "conv2", "logits"]
    assert layer_names(tmp_path / "s.zarr") == expected
    assert layer_names(tmp_path / "e.zarr") == expected + ["slim_net"]


def keras_conv_step(model, optimizer):
    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return step


def conv_model():
    return tf.keras.Sequential([
        tf.keras.Input((8, 8, 3)),
        tf.keras.layers.Conv2D(4, 3, padding="same", name="conv"),
        tf.keras.layers.BatchNormalization(name="bn"),
        tf.keras.layers.ReLU(name="relu"),
        tf.keras.layers.GlobalAveragePooling2D(name="pool"),
        tf.keras.layers.Dense(2, name="dense")], name="model")


def train(model, steps, rec=None):
    step = keras_conv_step(model, tf.keras.optimizers.SGD(0.1, momentum=0.9))
    x, y = tf.constant(images()), tf.constant(np.ones((2, 2), np.float32))
    losses = []
    for _ in range(steps):
        losses.append(step(x, y).numpy())
        if rec is not None:
            rec.next_step()
    return np.array(losses), [v.numpy() for v in model.variables]


def test_op_capture_in_a_tf_function_changes_no_number(tmp_path):
    tf.keras.utils.set_random_seed(1)
    plain_model = conv_model()
    start = [v.numpy() for v in plain_model.variables]
    expected_losses, expected_variables = train(plain_model, 3)
    tf.keras.utils.set_random_seed(1)
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off", ops="full", layers="full") as rec:
        model = conv_model()
        for variable, value in zip(model.variables, start):
            variable.assign(value)
        losses, variables = train(model, 3, rec)
    np.testing.assert_array_equal(losses, expected_losses)
    for got, want in zip(variables, expected_variables):
        np.testing.assert_array_equal(got, want)
    trace = open_trace(tmp_path / "t.zarr")
    ops = [e for e in trace.events if e.kind == "op"]
    assert {e.step for e in ops} == {0, 1, 2}
    by_seq = {e.seq: e for e in trace.events}
    # dataflow edges: the batch norm's first input is the event of the convolution before it
    bn = next(e for e in ops if e.attrs["op_type"] == "FusedBatchNormV3" and e.step == 1)
    assert bn.attrs["layer"] == "model/bn"
    producer = by_seq[bn.attrs["inputs"][0]]
    assert producer.step == 1 and producer.attrs["layer"] == "model/conv"
    # and the values agree: the recorded relu layer output is max(bn output, 0)
    relu = next(e for e in trace.events if e.kind == "layer" and e.name == "model/relu" and e.step == 1)
    np.testing.assert_array_equal(trace.array(relu), np.maximum(trace.array(bn), 0))


def test_levels_and_op_filters(tmp_path):
    def run(path, **levels):
        with tftrace.record(path, **levels):
            run_shim()
        return open_trace(path)

    off = run(tmp_path / "off.zarr", layers="off", ops="off")
    assert not [e for e in off.events if e.kind in ("layer", "op")]
    stats = run(tmp_path / "stats.zarr", layers="stats", ops="stats")
    captured = [e for e in stats.events if e.kind in ("layer", "op")]
    assert captured and all(e.stats is not None and e.digest and not e.stored for e in captured)
    full = run(tmp_path / "full.zarr", layers="full", ops="full", op_types=["Conv2D", "Relu"],
               op_scopes=["*conv2*"])
    ops = [e for e in full.events if e.kind == "op"]
    assert {e.attrs["op_type"] for e in ops} == {"Conv2D", "Relu"}
    assert {e.attrs["layer"] for e in ops} == {"conv2"} and all(e.stored for e in ops)
    assert full.environment["capture_levels"]["op_types"] == ["Conv2D", "Relu"]
    with pytest.raises(UsageError, match="ops='some' is not a capture level"):
        with tftrace.record(tmp_path / "bad.zarr", ops="some"):
            pass


def test_xla_functions_are_listed_not_captured(tmp_path):
    model = conv_model()
    x = tf.constant(images())
    with tftrace.record(tmp_path / "t.zarr", ops="stats", layers="stats"):
        tf.function(lambda v: model(v), jit_compile=True)(x)
    trace = open_trace(tmp_path / "t.zarr")
    assert not [e for e in trace.events if e.kind in ("layer", "op")]
    gaps = {(g["kind"], g["reason"]) for g in trace.environment["not_captured"]}
    assert {("op", "xla"), ("layer", "xla")} <= gaps


def test_tf1_adam_hyperparameters_per_step(tmp_path):
    graph = tf.Graph()
    with tftrace.record(tmp_path / "t.zarr") as rec, graph.as_default(), \
            tf.compat.v1.Session() as session:
        w = tf.compat.v1.get_variable("w", initializer=tf.ones([3]))
        loss = tf.reduce_sum(tf.square(w))
        rate = tf.compat.v1.train.exponential_decay(0.1, tf.compat.v1.train.get_or_create_global_step(),
                                                    1, 0.5)
        train_op = tf.compat.v1.train.AdamOptimizer(rate, epsilon=1e-6).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
        session.run(tf.compat.v1.global_variables_initializer())
        for _ in range(2):
            session.run(train_op)
            rec.next_step()
    trace = open_trace(tmp_path / "t.zarr")
    values = {(e.name, e.step): float(trace.array(e)) for e in trace.events if e.kind == "optimizer"}
    assert values[("learning_rate", 0)] == pytest.approx(0.1)
    assert values[("learning_rate", 1)] == pytest.approx(0.05)  # after the schedule
    assert values[("epsilon", 1)] == pytest.approx(1e-6) and values[("beta_1", 0)] == pytest.approx(0.9)
