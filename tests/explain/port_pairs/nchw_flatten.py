"""``permuted`` / ``data-format``: flattening NCHW against NHWC before a dense layer.

A: TF1 Session, code written for NCHW (as on GPU, or ported from a channels-first model):
   ``tf.compat.v1.layers.conv2d`` (NHWC on CPU), then ``tf.transpose(net, [0, 3, 1, 2])``
   before the flatten, so the dense kernel's rows are in channel-major order; hand SGD.
B: Keras 3 ``Conv2D`` -> ``Flatten()`` (channels-last order) -> ``Dense`` on A's initial
   weights (replay; same variable names), hand SGD in a ``tf.function``.
   fault=False: ``Permute((3, 1, 2))`` before ``Flatten`` (the correct port).

Evidence: endpoint ``conv`` equal; ``flat`` holds the same multiset of values per row,
reproduced exactly by ``transpose(conv, [0, 3, 1, 2]).reshape(N, -1)``; ``logits`` differ.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("permuted", "data-format")
LR, CLASSES = 0.1, 5
IMAGES = _base.images(4, 6, 3, seed=0)
LABELS = _base.labels(4, CLASSES)


def _loss(logits: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(LABELS), logits=logits))


def run_a(rec: Any) -> None:
    import tensorflow as tf

    def build() -> Any:
        layers = tf.compat.v1.layers
        conv = layers.conv2d(tf.constant(IMAGES), 4, 3, padding="same", name="conv")
        flat = tf.reshape(tf.transpose(conv, [0, 3, 1, 2]), [IMAGES.shape[0], -1])  # NCHW order
        logits = layers.dense(flat, CLASSES, name="logits")
        loss = _loss(logits)
        return {"conv": conv, "flat": flat, "logits": logits, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True) -> None:
    import keras
    import tensorflow as tf

    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
    permute = keras.layers.Permute((3, 1, 2))
    flatten = keras.layers.Flatten()
    dense = keras.layers.Dense(CLASSES, name="logits")
    conv.build((None,) + IMAGES.shape[1:])
    dense.build((None, 4 * IMAGES.shape[1] * IMAGES.shape[2]))
    x = tf.constant(IMAGES)

    def forward() -> Any:
        net = conv(x)
        flat = flatten(net if fault else permute(net))
        logits = dense(flat)
        loss = _loss(logits)
        return {"conv": net, "flat": flat, "logits": logits, "loss": loss}, loss

    _base.tf2_train(rec, forward, lambda: conv.trainable_variables + dense.trainable_variables,
                    None, apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source)
