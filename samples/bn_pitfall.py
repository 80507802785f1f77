"""The batch-norm pitfall: a custom training loop that calls ``model(x)`` without
``training=True``. Sample traces 2.

    python samples/bn_pitfall.py OUT.zarr                   # the bug: model(x)
    python samples/bn_pitfall.py OUT.zarr --training-true   # the fix: model(x, training=True)

A small Keras model whose first layer, ``BatchNormalization``, normalizes raw
features (mean about 5, not 0) is trained for ``STEPS`` steps of plain SGD in a
``tf.function``. Called without ``training=True`` in a custom loop, Keras runs the
layer in inference mode: it normalizes with the moving statistics and never updates
them, so the moving mean stays at its initial zeros while the Dense layers train.

The trace holds a snapshot of every variable at step 0 (before training) and after
each training step (steps 1..STEPS), then the step's loss. The batch norm has
``center=False, scale=False`` (the Dense layer after it applies its own scale and
shift), so its variables, the moving mean and variance, are the first ones created:
the diff of the two runs first diverges at the moving mean, step 1.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2 names: batch_normalization/moving_mean
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SEED, BATCH, FEATURES, STEPS, LEARNING_RATE = 42, 16, 4, 3, 0.05
#: Keras' default BatchNormalization momentum: moving = MOMENTUM * moving + (1 - MOMENTUM) * batch.
MOMENTUM = 0.99


def data(step: int) -> tuple[np.ndarray, np.ndarray]:
    """Training batch ``step`` (1-based): raw features around 5, a linear target."""
    rng = np.random.default_rng(step)
    features = rng.normal(5.0, 2.0, size=(BATCH, FEATURES)).astype(np.float32)
    target = (features @ np.arange(1, FEATURES + 1, dtype=np.float32))[:, None] / 10.0
    return features, target.astype(np.float32)


def build_model() -> Any:
    import tensorflow as tf

    return tf.keras.Sequential([
        tf.keras.Input(shape=(FEATURES,)),
        tf.keras.layers.BatchNormalization(center=False, scale=False),
        tf.keras.layers.Dense(8, activation="relu"),
        tf.keras.layers.Dense(1),
    ])


def main(out: str, training_true: bool) -> None:
    import tensorflow as tf

    import tftrace

    # Keras initializers given no seed draw one from Python's `random`, which neither
    # tftrace's seed_mode nor DeterministicRandomTestTool controls: seed it as Keras says.
    tf.keras.utils.set_random_seed(SEED)
    with tftrace.record(out, seed=SEED, seed_mode="num_random_ops", overwrite=True) as rec:
        model = build_model()

        @tf.function
        def train_step(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                if training_true:
                    prediction = model(features, training=True)
                else:
                    prediction = model(features)  # the pitfall: inference mode
                loss = tf.reduce_mean(tf.square(prediction - target))
            grads = tape.gradient(loss, model.trainable_variables)
            for var, grad in zip(model.trainable_variables, grads):
                var.assign_sub(LEARNING_RATE * grad)
            return loss

        rec.snapshot_variables()  # step 0: the initial state
        for step in range(1, STEPS + 1):
            rec.next_step()
            loss = train_step(*(tf.constant(a) for a in data(step)))
            rec.snapshot_variables()
            rec.endpoint("loss", loss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--training-true", action="store_true",
                        help="call model(x, training=True) (the fix)")
    args = parser.parse_args()
    main(args.out, args.training_true)
