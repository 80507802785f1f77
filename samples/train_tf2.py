"""Train a sample net for a few steps TF2-style: eager, in a Keras layer wrapped
with track_tf1_style_variables, with a GradientTape.

    python samples/train_tf2.py OUT.zarr [NET]   # records the run into OUT.zarr

NET as for train_tf1.py: ``slim_net`` (default) or ``slim_inception``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # track_tf1_style_variables needs tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import tftrace  # noqa: E402


class SlimNet(tf.keras.layers.Layer):
    """The net's TF1-style model function, called eagerly through the shim."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    @tf.compat.v1.keras.utils.track_tf1_style_variables
    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        logits, end_points = self.net.model(images, is_training=training)
        for name, value in end_points.items():
            tftrace.endpoint(name, value)
        return logits


def main(out: str, net_name: str = "slim_net") -> None:
    net = importlib.import_module(net_name)
    images, labels = net.data()
    with tftrace.record(out, seed=42, seed_mode="num_random_ops", overwrite=True) as rec:
        layer = SlimNet(net)
        for _ in range(net.STEPS):
            with tf.GradientTape() as tape:
                logits = layer(tf.constant(images), training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=tf.constant(labels), logits=logits))
                if layer.losses:  # weight decay from the net's arg scope
                    regularization_loss = tf.add_n(layer.losses)
                    rec.endpoint("regularization_loss", regularization_loss)
                    loss = loss + regularization_loss
            rec.endpoint("loss", loss)
            grads = tape.gradient(loss, layer.trainable_variables)
            for var, grad in zip(layer.trainable_variables, grads):
                var.assign_sub(net.LEARNING_RATE * grad)
            rec.snapshot_variables()
            rec.next_step()


if __name__ == "__main__":
    main(*sys.argv[1:3])
