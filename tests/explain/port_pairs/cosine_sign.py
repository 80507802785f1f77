"""``sign-flip``: Keras' ``cosine_similarity`` *loss* returns the negative similarity. A port
that reads it as the similarity maximizes the wrong sign.

A: TF1 Session: similarity = sum(l2n(target) * l2n(prediction)) per example (hand-written),
   loss = -mean(similarity), GradientDescent, 3 steps.
B: Keras 3 ``Dense``; similarity = ``keras.losses.cosine_similarity(...)`` (fault: it is
   ``-cos``), loss = -mean(similarity); hand SGD in a ``tf.function``, A's initial weights.
   fault=False: similarity = ``-keras.losses.cosine_similarity(...)``.

Evidence: endpoint ``similarity`` B = -A and ``loss`` B = -A at step 0; training then goes
the other way (snapshots move by -delta from the same start).
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("sign-flip",)
LR = 0.5
RENAME = [(r"/kernel$", "/weights"), (r"/bias$", "/biases")]
X = _base.features(8, 6, seed=0)
Y = _base.features(8, 3, seed=1)


def run_a(rec: Any) -> None:
    import tensorflow as tf
    import tf_slim as slim

    def build() -> Any:
        pred = slim.fully_connected(tf.constant(X), 3, activation_fn=None, scope="dense")
        similarity = tf.reduce_sum(tf.nn.l2_normalize(tf.constant(Y), 1)
                                   * tf.nn.l2_normalize(pred, 1), axis=1)
        loss = -tf.reduce_mean(similarity)
        return {"similarity": similarity, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True) -> None:
    import keras
    import tensorflow as tf

    dense = keras.layers.Dense(3, name="dense")
    dense.build((None, X.shape[1]))
    x, y = tf.constant(X), tf.constant(Y)

    def forward() -> Any:
        similarity = keras.losses.cosine_similarity(y, dense(x), axis=1)
        if not fault:
            similarity = -similarity
        loss = -tf.reduce_mean(similarity)
        return {"similarity": similarity, "loss": loss}, loss

    _base.tf2_train(rec, forward, lambda: dense.trainable_variables, None,
                    apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source, RENAME)
