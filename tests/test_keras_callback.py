"""``tftrace.keras.TraceCallback``: ``Model.fit`` recorded one step per batch, against the
same model trained by a hand-written loop with the same data, seeds and batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras
import tftrace
import tftrace.keras
from tftrace.keras import FIT_ONLY, TraceCallback

SAMPLES, FEATURES, CLASSES, BATCH, EPOCHS, LR = 48, 6, 3, 16, 2, 0.01
X = np.random.default_rng(0).normal(size=(SAMPLES, FEATURES)).astype(np.float32)
Y = np.random.default_rng(1).integers(0, CLASSES, size=SAMPLES).astype(np.int64)
STEPS = EPOCHS * SAMPLES // BATCH


def family(name: str):
    return keras if name == "keras3" else tf.keras


def build(name: str):
    k = family(name)
    k.backend.clear_session()
    k.utils.set_random_seed(0)
    model = k.Sequential([k.Input((FEATURES,)), k.layers.Dense(8, activation="relu", name="hidden"),
                          k.layers.Dense(CLASSES, name="logits")], name="model")
    return model, k.optimizers.Adam(LR), k.losses.SparseCategoricalCrossentropy(from_logits=True)


def record_fit(path, name: str, jit_compile: bool = False, **options) -> str:
    with tftrace.record(path, overwrite=True):
        model, optimizer, loss = build(name)
        model.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile)
        model.fit(X, Y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                  callbacks=[TraceCallback(**options)])
    return str(path)


def record_loop(path, name: str, lr: float = LR) -> str:
    with tftrace.record(path, overwrite=True):
        model, optimizer, loss = build(name)
        optimizer.learning_rate = lr

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True))
            tftrace.endpoint("loss", value)
            grads = tape.gradient(value, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

        for _ in range(EPOCHS):
            for start in range(0, SAMPLES, BATCH):
                step(tf.constant(X[start:start + BATCH]), tf.constant(Y[start:start + BATCH]))
                tftrace.snapshot_variables()
                tftrace.next_step()
    return str(path)


@pytest.fixture(scope="module", params=["keras3", "tf_keras"], ids=["keras3", "tf-keras"])
def loop(request, tmp_path_factory) -> tuple[str, str]:
    return request.param, record_loop(tmp_path_factory.mktemp("loop") / "loop.zarr", request.param)


def test_fit_is_equivalent_to_the_hand_written_loop(loop, tmp_path):
    name, loop_path = loop
    fit_path = record_fit(tmp_path / "fit.zarr", name)
    result = tftrace.diff(loop_path, fit_path, ignore=FIT_ONLY)
    assert result.equivalent, result.first_divergence
    counts = {s.kind: s for s in result.summary}
    # One step per batch, the batch loss itself: bit-equal to the loop's, step by step.
    assert counts["endpoint"].compared == counts["endpoint"].equal == STEPS
    assert counts["snapshot"].equal == counts["snapshot"].compared > 0
    assert counts["endpoint"].ignored_b == STEPS  # metrics/loss, Keras' running mean
    fit = tftrace.open(fit_path)
    batch = [float(fit.array("loss", step=k)) for k in range(STEPS)]
    running = [float(fit.array("metrics/loss", step=k)) for k in range(STEPS)]
    assert running[1] == pytest.approx((batch[0] + batch[1]) / 2, rel=1e-6)
    assert running[1] != batch[1]
    # Negative control: the same fit against a loop with another learning rate.
    other = record_loop(tmp_path / "other.zarr", name, lr=0.02)
    first = tftrace.diff(other, fit_path, ignore=FIT_ONLY).first_divergence
    assert (first.kind, first.step) == ("snapshot", 0)


def test_without_ignore_fit_only_state_is_reported(loop, tmp_path):
    name, loop_path = loop
    fit_path = record_fit(tmp_path / "fit.zarr", name, snapshot_every=2)
    result = tftrace.diff(loop_path, fit_path)
    assert not result.equivalent
    snapshots = tftrace.diff(loop_path, fit_path, ignore=FIT_ONLY)
    # Every second batch snapshotted: the loop's other snapshots are missing from fit.
    assert {s.kind: s.missing for s in snapshots.summary}["snapshot"] > 0
    steps = sorted({e.step for e in tftrace.open(fit_path).events if e.kind == "snapshot"})
    assert steps == list(range(1, STEPS, 2))


def test_fit_with_jit_compile_derives_the_batch_loss(tmp_path):
    """XLA compiles the train step: the loss comes from Keras' loss tracker, close to the
    loop's; the weights are close, not equal (XLA's kernels)."""
    loop_path = record_loop(tmp_path / "loop.zarr", "keras3")
    fit_path = record_fit(tmp_path / "fit.zarr", "keras3", jit_compile=True)
    fit = tftrace.open(fit_path)
    assert fit.environment["keras_batch_loss"].startswith("derived from the loss tracker")
    result = tftrace.diff(loop_path, fit_path, ignore=FIT_ONLY, rtol=1e-4, atol=1e-6)
    assert result.equivalent, result.first_divergence
    loss = {s.kind: s for s in result.summary}["endpoint"]
    assert loss.compared == STEPS


def test_callback_without_a_recording_does_nothing():
    model, optimizer, loss = build("keras3")
    model.compile(optimizer=optimizer, loss=loss)
    history = model.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[TraceCallback()])
    assert len(history.history["loss"]) == 1
