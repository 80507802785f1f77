"""Layer capture in a ``tf.function`` never changes the program's numbers.

The model has MobileNetV2's pattern on a small scale (Keras 3: convolution, batch norm,
residual ``Add``; softmax output with sparse cross-entropy). In its training step Grappler
folds each residual ``Add`` with the batch norm's last ``add`` into one ``AddN``, a
rewrite that needs the variables' shapes; observing those layer outputs stops it and the
sums round differently. The observer-effect check sees the rewrite (it optimizes the
function as the runtime does, variable shapes included), so those outputs are left out
and listed, and a training step stays bit-equal to an unrecorded run.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
import tensorflow as tf  # noqa: E402

import tftrace  # noqa: E402
from tftrace.format.reader import open_trace  # noqa: E402
from tftrace.recording.neutrality import NeutralityCheck  # noqa: E402


def residual_net() -> keras.Model:
    inputs = keras.Input((8, 8, 8))
    h = inputs
    for block in range(2):
        y = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name=f"conv_{block}")(h)
        y = keras.layers.BatchNormalization(name=f"bn_{block}")(y)
        h = keras.layers.Add(name=f"add_{block}")([h, y])
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, outputs, name="net")


def train(path, steps: int = 1, streams: str = "layers", **levels):
    """Variables after ``steps`` training steps in a tf.function, recorded to ``path``
    (one stream at statistics, ``layers`` or ``gradients``, or the capture ``levels``
    given) or not recorded (None)."""
    keras.utils.set_random_seed(0)
    model = residual_net()
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(16, 8, 8, 8)).astype(np.float32))
    y = tf.constant(np.arange(16) % 5)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    if path is None:
        losses = [step().numpy() for _ in range(steps)]
    else:
        levels = levels or {"layers": "off", "gradients": "off", streams: "stats"}
        with tftrace.record(path, seed_mode="off", optimizer="off", **levels) as rec:
            losses = []
            for _ in range(steps):
                losses.append(step().numpy())
                rec.next_step()
    return np.array(losses), [v.numpy() for v in model.variables + optimizer.variables]


def differing(a, b) -> int:
    return sum(not np.array_equal(x, y) for x, y in zip(a[1], b[1]))


def test_layer_capture_keeps_a_residual_training_step_bit_equal(tmp_path, monkeypatch) -> None:
    plain = train(None)
    recorded = train(tmp_path / "t.zarr")
    np.testing.assert_array_equal(recorded[0], plain[0])
    assert differing(recorded, plain) == 0
    trace = open_trace(tmp_path / "t.zarr")
    left_out = {g["name"] for g in trace.environment["not_captured"] if g["reason"] == "observer-effect"}
    # The outputs Grappler folds into one AddN: the batch norm's (its last add joins the
    # residual add); the residual add alone, once the batch norm is left out, changes nothing.
    assert {"net/bn_0", "net/bn_1"} <= left_out, left_out
    captured = {e.name for e in trace.events if e.kind == "layer"}
    assert {"net/conv_0", "net/conv_1", "net/pool", "net/predictions"} <= captured, captured
    assert not captured & left_out
    # Negative control: observing every layer output (no check) changes the numbers.
    monkeypatch.setattr(NeutralityCheck, "changing", lambda self, *args, **kwargs: set())
    observed = train(tmp_path / "observed.zarr")
    assert differing(observed, plain) > 0


def test_gradient_capture_keeps_a_training_step_bit_equal(tmp_path, monkeypatch) -> None:
    # Grappler reassociates SGD's learning_rate * gradient with a batch norm gamma
    # gradient's own Mul; observing that gradient stops it. No observed value is rewritten
    # away, so the check reads the culprits off where the optimized graphs differ.
    plain = train(None)
    recorded = train(tmp_path / "t.zarr", streams="gradients")
    np.testing.assert_array_equal(recorded[0], plain[0])
    assert differing(recorded, plain) == 0
    trace = open_trace(tmp_path / "t.zarr")
    left_out = {g["name"] for g in trace.environment["not_captured"] if g["reason"] == "observer-effect"}
    assert left_out == {"bn_0/gamma", "bn_1/gamma"}, left_out
    captured = {e.name for e in trace.events if e.kind == "gradient"}
    assert captured and not captured & left_out
    assert any("conv_0" in name for name in captured), captured
    # Negative control: observing every gradient (no check) changes the numbers.
    monkeypatch.setattr(NeutralityCheck, "changing", lambda self, *args, **kwargs: set())
    observed = train(tmp_path / "observed.zarr", streams="gradients")
    assert differing(observed, plain) > 0
