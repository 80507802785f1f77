"""The TF2 side of docs/tutorial.md: the same model function, eagerly, in a Keras layer
wrapped with ``track_tf1_style_variables``.

    tftrace record -o tf2.zarr docs/examples/tutorial_tf2.py {inference|training} STEPS
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "samples")))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import slim_inception as net  # noqa: E402
import tftrace  # noqa: E402


class Inception(tf.keras.layers.Layer):
    @tf.compat.v1.keras.utils.track_tf1_style_variables
    def call(self, inputs, training=False):
        logits, end_points = net.model(inputs, is_training=training)
        for name, value in end_points.items():
            tftrace.endpoint(name, value)
        return logits


mode, steps = sys.argv[1], int(sys.argv[2])
training = mode == "training"
rng = np.random.default_rng(0)  # a batch of 16: batch norm over 4 samples is ill-conditioned
images = rng.random((16, net.SIZE, net.SIZE, 3), dtype=np.float32)
labels = rng.integers(0, net.CLASSES, size=16)
layer = Inception()
for _ in range(steps):
    with tf.GradientTape() as tape:
        logits = layer(tf.constant(images), training=training)
        regularization_loss = tf.add_n(layer.losses)
        tftrace.endpoint("regularization_loss", regularization_loss)
        loss = regularization_loss + tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(labels), logits=logits))
    tftrace.endpoint("loss", loss)
    if training:
        grads = tape.gradient(loss, layer.trainable_variables)
        for variable, grad in zip(layer.trainable_variables, grads):
            variable.assign_sub(net.LEARNING_RATE * grad)
    tftrace.snapshot_variables()
    tftrace.next_step()
