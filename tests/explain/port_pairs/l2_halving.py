"""``scaled`` / ``l2-halving``: tf-slim's ``l2_regularizer(w)`` is ``w * tf.nn.l2_loss(v)``
= ``w * sum(v**2) / 2``; Keras' ``l2(w)`` is ``w * sum(v**2)``.

A: TF1 Session, ``slim.fully_connected`` with ``weights_regularizer=slim.l2_regularizer(WD)``,
   loss = MSE + regularization, GradientDescent(LR), 3 steps.
B: Keras 3 ``Dense(kernel_regularizer=keras.regularizers.L2(WD))`` trained by hand-written
   SGD in a ``tf.function`` on A's initial weights (replay, renamed).
   fault=False: ``L2(WD / 2)`` (the correct port).

Evidence: endpoint ``regularization_loss`` at step 0 is exactly 2x A's; ``loss`` is offset
by A's regularization loss; the kernel snapshots diverge from step 0.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("scaled", "l2-halving")
WD, LR = 0.1, 0.1
RENAME = [(r"/kernel$", "/weights"), (r"/bias$", "/biases")]
X = _base.features(8, 6, seed=0)
Y = _base.features(8, 4, seed=1)


def run_a(rec: Any) -> None:
    import tensorflow as tf
    import tf_slim as slim

    def build() -> Any:
        out = slim.fully_connected(tf.constant(X), 4, activation_fn=None, scope="dense",
                                   weights_regularizer=slim.l2_regularizer(WD))
        regularization = tf.add_n(tf.compat.v1.get_collection(
            tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES))
        loss = tf.reduce_mean(tf.square(out - Y)) + regularization
        return {"regularization_loss": regularization, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True) -> None:
    import keras
    import tensorflow as tf

    dense = keras.layers.Dense(4, name="dense",
                               kernel_regularizer=keras.regularizers.L2(WD if fault else WD / 2))
    dense.build((None, X.shape[1]))
    x, y = tf.constant(X), tf.constant(Y)

    def forward() -> Any:
        out = dense(x)
        regularization = tf.add_n(dense.losses)
        loss = tf.reduce_mean(tf.square(out - y)) + regularization
        return {"regularization_loss": regularization, "loss": loss}, loss

    _base.tf2_train(rec, forward, lambda: dense.trainable_variables, None,
                    apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source, RENAME)
