"""``masked`` / ``keep-prob-vs-rate``: ``slim.dropout(keep_prob=0.8)`` ported as
``Dropout(0.8)`` (Keras' argument is the *drop* rate).

A: TF1 Session, tf-slim: ``fully_connected(32)`` -> ``dropout(keep_prob=0.8)`` ->
   ``fully_connected(3)``, GradientDescent, 3 steps.
B: Keras 3 ``Dense(32, relu)`` -> ``Dropout(0.8)`` (fault) / ``Dropout(0.2)`` (fault=False)
   -> ``Dense(3)``, hand SGD in a ``tf.function``, on A's initial weights and A's dropout
   uniforms (replay: a TF1 ``RandomUniform`` stands for Keras' stateless one), renamed.

Evidence: endpoint ``dropout``: about 20% zeros in A, 80% in B; where B is not zero, A is
not zero either and B = 4 x A (B scales by 1/0.2, A by 1/0.8).
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("masked", "keep-prob-vs-rate")
LR, KEEP_PROB = 0.1, 0.8
RENAME = [(r"/kernel$", "/weights"), (r"/bias$", "/biases")]
X = _base.features(8, 6, seed=0)
Y = _base.labels(8, 3)


def _loss(logits: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(Y), logits=logits))


def run_a(rec: Any) -> None:
    import tensorflow as tf
    import tf_slim as slim

    def build() -> Any:
        net = slim.fully_connected(tf.constant(X), 32, scope="fc1")
        dropped = slim.dropout(net, keep_prob=KEEP_PROB, is_training=True, scope="dropout")
        logits = slim.fully_connected(dropped, 3, activation_fn=None, scope="logits")
        loss = _loss(logits)
        return {"dropout": dropped, "logits": logits, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True) -> None:
    import keras
    import tensorflow as tf

    fc1 = keras.layers.Dense(32, activation="relu", name="fc1")
    dropout = keras.layers.Dropout(KEEP_PROB if fault else 1 - KEEP_PROB)
    logits_layer = keras.layers.Dense(3, name="logits")
    fc1.build((None, X.shape[1]))
    logits_layer.build((None, 32))
    x = tf.constant(X)

    def forward() -> Any:
        dropped = dropout(fc1(x), training=True)
        logits = logits_layer(dropped)
        loss = _loss(logits)
        return {"dropout": dropped, "logits": logits, "loss": loss}, loss

    _base.tf2_train(rec, forward,
                    lambda: fc1.trainable_variables + logits_layer.trainable_variables, None,
                    apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source, RENAME)
