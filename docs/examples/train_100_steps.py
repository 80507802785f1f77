"""A tiny Keras model trained for 100 steps: docs/recording.md, "Recording against a trace"
(also run by tests/recording/test_against.py).

    tftrace record -o B.zarr --against A.zarr docs/examples/train_100_steps.py MARKER [--change-at STEP]

``--change-at STEP`` scales the inputs by 1.01 from that step on (the planted divergence);
MARKER is written when the loop finishes, so a test sees whether the run was stopped.
"""

from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf

import tftrace

tf.keras.backend.clear_session()  # the same layer and optimizer names run after run
marker = sys.argv[1]
change_at = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--change-at" else None
tf.random.set_seed(7)
model = tf.keras.Sequential([tf.keras.layers.Dense(128, activation="relu", name="hidden"),
                             tf.keras.layers.Dense(2, name="out")], name="net")
optimizer = tf.keras.optimizers.SGD(0.05)
x = tf.constant(np.random.default_rng(0).random((16, 32), dtype=np.float32))
target = tf.constant(np.random.default_rng(1).random((16, 2), dtype=np.float32))
for step in range(100):
    inputs = x * 1.01 if change_at is not None and step >= change_at else x
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(inputs) - target))
    tftrace.endpoint("loss", loss)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))
    tftrace.next_step()
with open(marker, "w") as f:
    f.write("finished")
