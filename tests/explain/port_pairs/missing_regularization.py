"""``missing-regularization`` (and ``offset``): the port forgets the layer's regularization losses.

A: TF1 Session, tf-slim ``fully_connected`` layers under an ``arg_scope`` with
   ``weights_regularizer=slim.l2_regularizer(WD)``; loss = cross-entropy +
   ``add_n(REGULARIZATION_LOSSES)``; GradientDescent, 3 steps. Endpoints
   ``regularization_loss`` and ``loss``.
B: the same model function in a ``track_tf1_style_variables`` layer (the shim collects the
   regularizers into ``layer.losses``), trained in a ``tf.function``; fault=True: loss =
   cross-entropy only (``layer.losses`` forgotten, and no ``regularization_loss`` endpoint);
   fault=False: cross-entropy + ``add_n(layer.losses)``. A's initial weights by replay.

Evidence: at step 0, B's ``loss`` equals A's ``loss`` minus A's ``regularization_loss``
(to rounding); A has an endpoint B lacks; the weights diverge from the first update.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("missing-regularization", "offset")
LR, WD, CLASSES = 0.1, 0.05, 3
X = _base.features(8, 6, seed=0)
Y = _base.labels(8, CLASSES)


def model(x: Any) -> Any:
    import tf_slim as slim

    with slim.arg_scope([slim.fully_connected], weights_regularizer=slim.l2_regularizer(WD)):
        net = slim.fully_connected(x, 16, scope="fc1")
        return slim.fully_connected(net, CLASSES, activation_fn=None, scope="logits")


def _cross_entropy(logits: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(Y), logits=logits))


def run_a(rec: Any) -> None:
    import tensorflow as tf

    def build() -> Any:
        logits = model(tf.constant(X))
        regularization = tf.add_n(tf.compat.v1.get_collection(
            tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES))
        loss = _cross_entropy(logits) + regularization
        return {"regularization_loss": regularization, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True) -> None:
    import tensorflow as tf

    class Net(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, x: Any) -> Any:
            return model(x)

    net = Net()
    x = tf.constant(X)
    net(x)  # variables created eagerly, outside the tf.function

    def forward() -> Any:
        logits = net(x)
        if fault:
            loss = _cross_entropy(logits)
            return {"loss": loss}, loss
        regularization = tf.add_n(net.losses)
        loss = _cross_entropy(logits) + regularization
        return {"regularization_loss": regularization, "loss": loss}, loss

    def trainable() -> list[Any]:
        return net.trainable_variables

    _base.tf2_train(rec, forward, trainable, None, apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source)
