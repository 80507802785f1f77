"""Layers, gradients and optimizer hyperparameters of a ``keras`` model are captured
whichever Keras the ``keras`` package is: Keras 3 (TensorFlow >= 2.16, ``make test``) or
Keras 2 (TensorFlow 2.15's own, ``make test-tf2.15``), whose classes live in
``keras.src.engine``. (tf-keras is tested elsewhere.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tftrace.format.reader import open_trace

X = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)


def test_a_tf_keras_training_step_is_captured_with_its_values(tmp_path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(5, name="dense")(inputs)
    net = keras.Model(inputs, keras.layers.Dense(3, name="out")(hidden), name="m")
    optimizer = keras.optimizers.Adam(0.01)
    x = tf.constant(X)
    # what the step must record, computed beforehand by Keras itself
    expected_hidden = net.get_layer("dense")(x).numpy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(net(x) ** 2)
    expected_grads = {getattr(v, "path", v.name).split(":")[0]: g.numpy()
                      for v, g in zip(net.trainable_variables, tape.gradient(loss, net.trainable_variables))}

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(net(x) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
        return loss

    with tftrace.record(tmp_path / "t.zarr", seed_mode="off", layers="full", gradients="full",
                        optimizer="full"):
        step(x)
    trace = open_trace(tmp_path / "t.zarr")
    by_kind: dict[str, dict[str, object]] = {}
    for event in trace.events:
        by_kind.setdefault(event.kind.value, {})[event.name] = event
    family = "keras3" if keras.__version__.startswith("3") else "keras2"

    assert sorted(by_kind["layer"]) == ["m", "m/dense", "m/out"]
    layer = by_kind["layer"]["m/dense"]
    assert layer.attrs.family == family
    np.testing.assert_allclose(trace.array(layer), expected_hidden, rtol=1e-6, atol=1e-6)
    grads = {name.split(":")[0]: event for name, event in by_kind["gradient"].items()}
    assert sorted(grads) == sorted(expected_grads)
    for name, event in grads.items():
        np.testing.assert_allclose(trace.array(event), expected_grads[name], rtol=1e-5, atol=1e-6)
    optimizer_values = {name: float(trace.array(e)) for name, e in by_kind["optimizer"].items()
                        if name in ("learning_rate", "beta_1", "beta_2")}
    # Keras 3 holds them as float32 variables, Keras 2 beta_1 and beta_2 as Python floats
    assert optimizer_values == pytest.approx({"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999},
                                             rel=1e-6)
