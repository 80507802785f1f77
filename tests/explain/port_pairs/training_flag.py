"""``training-flag`` (and ``stale``): batch norm and dropout run in inference mode in B.

A: TF1 Session, a tf-slim net (conv + batch norm + dropout + fully connected, the shape of
   tftrace's ``samples/slim_net.py``) built with ``is_training=True``, batch-norm update ops
   as control dependencies, GradientDescent, 3 steps.
B: the same model function in a ``track_tf1_style_variables`` layer trained in a
   ``tf.function`` with a tape, called as ``layer(x)`` (fault: Keras' default
   ``training=None`` becomes ``is_training=False``) or ``layer(x, training=True)``
   (fault=False); A's initial weights and dropout masks by replay.

Evidence: B has no dropout random op in any step (A has one per step); B's endpoints differ
from step 0 (moving statistics instead of batch statistics); B's ``moving_mean`` and
``moving_variance`` snapshots never change while A's do (stale).
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("training-flag", "stale")
LR, CLASSES = 0.1, 5
IMAGES = _base.images(4, 8, 3, seed=0)
LABELS = _base.labels(4, CLASSES)


def model(images: Any, is_training: bool) -> tuple[Any, dict[str, Any]]:
    import tf_slim as slim

    with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm,
                        normalizer_params={"is_training": is_training}):
        conv = slim.conv2d(images, 4, [3, 3], scope="conv1")
        net = slim.flatten(slim.max_pool2d(conv, [2, 2], scope="pool1"))
        dropped = slim.dropout(net, 0.5, is_training=is_training, scope="dropout")
        logits = slim.fully_connected(dropped, CLASSES, activation_fn=None, scope="logits")
    return logits, {"conv1": conv, "dropout": dropped, "logits": logits}


def _loss(logits: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(LABELS), logits=logits))


def run_a(rec: Any) -> None:
    import tensorflow as tf

    def build() -> Any:
        logits, end_points = model(tf.constant(IMAGES), is_training=True)
        loss = _loss(logits)
        return {**end_points, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True) -> None:
    import tensorflow as tf

    import tftrace

    class SlimNet(tf.keras.layers.Layer):
        emit = False  # record end points only in training steps, not in the build call

        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, images: Any, training: Any = None) -> Any:
            logits, end_points = model(images, is_training=bool(training))
            if self.emit:
                for name, value in end_points.items():
                    tftrace.endpoint(name, value)
            return logits

    net = SlimNet()
    x = tf.constant(IMAGES)
    net(x, training=False)  # variables created eagerly, outside the tf.function
    net.emit = True

    def forward() -> Any:
        logits = net(x) if fault else net(x, training=True)
        loss = _loss(logits)
        return {"loss": loss}, loss

    def trainable() -> list[Any]:
        return net.trainable_variables

    _base.tf2_train(rec, forward, trainable, None, apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source)
