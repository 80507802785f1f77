"""``offset``: TF1 ``tf.compat.v1.losses.cosine_distance`` is ``1 - cos``; Keras
``keras.losses.cosine_similarity`` is ``-cos``: the port's per-example loss is A's minus 1.

A: TF1 Session, ``slim.fully_connected`` -> per-example ``cosine_distance`` of the
   l2-normalized target and prediction, mean loss, GradientDescent, 3 steps.
B: Keras 3 ``Dense`` + ``keras.losses.cosine_similarity``, hand SGD in a ``tf.function``,
   A's initial weights (replay, renamed). fault=False: ``1 + cosine_similarity``.

Evidence: endpoint ``per_example_loss`` B = A - 1 at every step, ``loss`` B = A - 1; the
gradients, hence the snapshots, are unchanged (a constant offset has no gradient): the
diff's first divergence is a loss that does not matter for training.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("offset",)
LR = 0.5
RENAME = [(r"/kernel$", "/weights"), (r"/bias$", "/biases")]
X = _base.features(8, 6, seed=0)
Y = _base.features(8, 3, seed=1)


def run_a(rec: Any) -> None:
    import tensorflow as tf
    import tf_slim as slim

    def build() -> Any:
        pred = slim.fully_connected(tf.constant(X), 3, activation_fn=None, scope="dense")
        per_example = tf.compat.v1.losses.cosine_distance(
            tf.nn.l2_normalize(tf.constant(Y), 1), tf.nn.l2_normalize(pred, 1), axis=1,
            reduction=tf.compat.v1.losses.Reduction.NONE)
        per_example = tf.squeeze(per_example, 1)
        loss = tf.reduce_mean(per_example)
        return {"per_example_loss": per_example, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True) -> None:
    import keras
    import tensorflow as tf

    dense = keras.layers.Dense(3, name="dense")
    dense.build((None, X.shape[1]))
    x, y = tf.constant(X), tf.constant(Y)

    def forward() -> Any:
        per_example = keras.losses.cosine_similarity(y, dense(x), axis=1)
        if not fault:
            per_example = 1.0 + per_example
        loss = tf.reduce_mean(per_example)
        return {"per_example_loss": per_example, "loss": loss}, loss

    _base.tf2_train(rec, forward, lambda: dense.trainable_variables, None,
                    apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source, RENAME)
