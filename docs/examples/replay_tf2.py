"""Run B of docs/replay.md: the same model function, eagerly, in a Keras layer
wrapped with track_tf1_style_variables. With a trace A it runs under replay.

    python docs/examples/replay_tf2.py b.zarr [a.zarr]
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "samples")))

import tensorflow as tf  # noqa: E402

import slim_net  # noqa: E402
import tftrace  # noqa: E402


class SlimNet(tf.keras.layers.Layer):
    @tf.compat.v1.keras.utils.track_tf1_style_variables
    def call(self, inputs, training=False):
        logits, end_points = slim_net.model(inputs, is_training=training)
        for name, value in end_points.items():
            tftrace.endpoint(name, value)
        return logits


out, source = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
run = (tftrace.replay(source, record_to=out, overwrite=True) if source
       else tftrace.record(out, overwrite=True))
images, labels = slim_net.data()
with run as rec:
    layer = SlimNet()
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.constant(labels), logits=layer(tf.constant(images), training=True)))
        rec.endpoint("loss", loss)
        grads = tape.gradient(loss, layer.trainable_variables)
        for variable, grad in zip(layer.trainable_variables, grads):
            variable.assign_sub(0.1 * grad)
        rec.snapshot_variables()
        rec.next_step()
