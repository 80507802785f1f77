"""Train samples/slim_net.py for a few steps TF2-style: eager, in a Keras layer
wrapped with track_tf1_style_variables, with a GradientTape.

    python samples/train_tf2.py OUT.zarr      # records the run into OUT.zarr
"""

from __future__ import annotations

import sys

import slim_net
import tensorflow as tf

import tftrace


class SlimNet(tf.keras.layers.Layer):
    @tf.compat.v1.keras.utils.track_tf1_style_variables
    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        logits, end_points = slim_net.model(images, is_training=training)
        for name, value in end_points.items():
            tftrace.endpoint(name, value)
        return logits


def main(out: str) -> None:
    images, labels = slim_net.data()
    with tftrace.record(out, seed=42, seed_mode="num_random_ops", overwrite=True) as rec:
        layer = SlimNet()
        for _ in range(slim_net.STEPS):
            with tf.GradientTape() as tape:
                logits = layer(tf.constant(images), training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=tf.constant(labels), logits=logits))
            rec.endpoint("loss", loss)
            grads = tape.gradient(loss, layer.trainable_variables)
            for var, grad in zip(layer.trainable_variables, grads):
                var.assign_sub(slim_net.LEARNING_RATE * grad)
            rec.snapshot_variables()
            rec.next_step()


if __name__ == "__main__":
    main(sys.argv[1])
