"""Gradients pair per variable across TF1 and Keras 3; an optimizer hyperparameter change
is reported as optimizer state, not as a layer output."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tftrace.report.text import render_text

keras = pytest.importorskip("keras")
if int(keras.__version__.split(".")[0]) < 3:
    pytest.skip("needs Keras 3", allow_module_level=True)

RNG = np.random.default_rng(0)
W1, B1 = RNG.normal(size=(6, 8)).astype(np.float32), RNG.normal(size=8).astype(np.float32)
W2, B2 = RNG.normal(size=(8, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
X, Y = RNG.normal(size=(4, 6)).astype(np.float32), RNG.normal(size=(4, 3)).astype(np.float32)
STEPS, LR = 2, 0.1


def tf1_gradient_descent(path):
    """TF1: compat.v1 layers, GradientDescentOptimizer.minimize, Session runs."""
    init = tf.compat.v1.constant_initializer
    graph = tf.Graph()
    with tftrace.record(path) as rec, graph.as_default(), tf.compat.v1.Session() as session:
        h = tf.compat.v1.layers.dense(tf.constant(X), 8, activation=tf.nn.relu, name="dense",
                                      kernel_initializer=init(W1), bias_initializer=init(B1))
        out = tf.compat.v1.layers.dense(h, 3, name="dense_1", kernel_initializer=init(W2),
                                        bias_initializer=init(B2))
        loss = tf.reduce_mean(tf.square(out - Y))
        train = tf.compat.v1.train.GradientDescentOptimizer(LR).minimize(loss)
        session.run(tf.compat.v1.global_variables_initializer())
        for _ in range(STEPS):
            session.run(train)
            rec.next_step()
    return path


def keras3_model():
    init = keras.initializers.Constant
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="relu", name="dense", kernel_initializer=init(W1),
                           bias_initializer=init(B1)),
        keras.layers.Dense(3, name="dense_1", kernel_initializer=init(W2), bias_initializer=init(B2)),
    ], name="model")


def keras3_training(path, optimizer, gradients="stats"):
    """Keras 3: GradientTape and optimizer.apply_gradients in a tf.function."""
    with tftrace.record(path, gradients=gradients) as rec:
        model = keras3_model()

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        for _ in range(STEPS):
            step(X, Y)
            rec.next_step()
    return path


def test_tf1_gradient_descent_and_keras3_sgd_gradients_pair_per_variable(tmp_path):
    a = tf1_gradient_descent(tmp_path / "a.zarr")
    b = keras3_training(tmp_path / "b.zarr", keras.optimizers.SGD(LR), gradients="full")
    result = tftrace.diff(a, b, rename=[(r"^model/", "")], only="gradients,optimizer")
    gradients = [p for p in result.pairs if p.kind == "gradient"]
    names = {(p.name, p.step) for p in gradients}
    assert names == {(f"{v}:0", s) for v in ("dense/kernel", "dense/bias", "dense_1/kernel",
                                             "dense_1/bias") for s in range(STEPS)}, names
    assert all(p.status in ("equal", "close") for p in gradients), render_text(result)
    # the learning rate pairs by its role; SGD's momentum (0) has no TF1 counterpart
    rates = [p for p in result.pairs if p.kind == "optimizer" and p.name == "learning_rate"]
    assert [p.status for p in rates] == ["equal"] * STEPS
    assert result.equivalent, render_text(result)
    # independent check of the numbers: the first step's kernel gradient by hand (numpy)
    trace = tftrace.open(b)
    event = next(e for e in trace.events if e.kind == "gradient" and e.name == "model/dense_1/kernel"
                 and e.step == 0)
    hidden = np.maximum(X @ W1 + B1, 0)
    expected = hidden.T @ (2 * (hidden @ W2 + B2 - Y) / Y.size)
    np.testing.assert_allclose(trace.array(event), expected, rtol=1e-5, atol=1e-6)


def test_a_different_learning_rate_is_an_optimizer_divergence(tmp_path):
    """Negative control: the same pairing fails when the rate differs."""
    a = tf1_gradient_descent(tmp_path / "a.zarr")
    b = keras3_training(tmp_path / "b.zarr", keras.optimizers.SGD(LR * 2))
    result = tftrace.diff(a, b, rename=[(r"^model/", "")])
    first = result.first_divergence
    assert (first.kind, first.name, first.step) == ("optimizer", "learning_rate", 0), render_text(result)


def test_adam_epsilon_change_is_reported_as_optimizer_state(tmp_path):
    a = keras3_training(tmp_path / "a.zarr", keras.optimizers.Adam(0.01, epsilon=1e-7, name="adam"))
    b = keras3_training(tmp_path / "b.zarr", keras.optimizers.Adam(0.01, epsilon=1e-3, name="adam"))
    result = tftrace.diff(a, b)
    first = result.first_divergence
    assert (first.kind, first.name, first.step) == ("optimizer", "epsilon", 0), render_text(result)
    assert result.broken_stream == "optimizer"
    # the forward pass and gradients of step 0 matched before it
    assert first.forward_compared >= 3
    # (statistics computed in the tf.function: compared by statistics, "close" when they agree)
    assert all(p.status in ("equal", "close") for p in result.pairs
               if p.kind in ("layer", "gradient") and p.step == 0)
    assert "optimizer hyperparameter 'epsilon' differs at step 0" in render_text(result)
