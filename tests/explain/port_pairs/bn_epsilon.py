"""``default-epsilon``: batch-norm epsilon 1e-5 (tf-slim resnet arg scope) ported to Keras'
default 1e-3.

A: TF1 Session, tf-slim: ``conv2d`` (no bias, no activation) -> ``batch_norm(epsilon=1e-5,
   decay=0.99, is_training=True)`` -> relu -> flatten -> ``fully_connected``, GradientDescent
   with the update ops, 3 steps. Endpoints ``conv`` (batch norm's input), ``bn`` (its output),
   ``logits``, ``loss``.
B: Keras 3 ``Conv2D(use_bias=False)`` -> ``BatchNormalization(scale=False, momentum=0.99)``
   with the default epsilon 1e-3 (fault) or ``epsilon=1e-5`` (fault=False) -> relu ->
   ``Flatten`` -> ``Dense``, hand SGD in a ``tf.function``; A's initial weights by replay
   (renamed: Keras ``bn/beta`` is slim's ``conv1/BatchNorm/beta``).

Keras 3's batch norm updates the moving variance with the *biased* batch variance, slim's
fused batch norm (and tf-keras') with the unbiased one (n / (n - 1)): even with the right
epsilon (fault=False) B's ``moving_variance`` differs by (1 - momentum) * var / (n - 1)
(7e-6 at step 0 here, n = 144), over the default tolerance from step 1. ``keras="tf_keras"``
builds B from tf-keras layers, which match.

Evidence: ``conv`` equal; ``bn`` differs with a per-channel ratio that is constant over
batch and space: B/A = sqrt((var + 1e-5) / (var + 1e-3)), from which the epsilon can be
recovered given the batch variance of ``conv``; with op capture the epsilon attribute of
``FusedBatchNormV3`` differs (1e-05 vs 0.001).
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("default-epsilon", "scaled")
LR, CLASSES, EPSILON, MOMENTUM = 0.1, 5, 1e-5, 0.99
IMAGES = _base.images(4, 6, 3, seed=0)
LABELS = _base.labels(4, CLASSES)
RENAME = [(r"^conv1/kernel$", "conv1/weights"), (r"^bn/", "conv1/BatchNorm/"),
          (r"^logits/kernel$", "logits/weights"), (r"^logits/bias$", "logits/biases")]


def _loss(logits: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(LABELS), logits=logits))


def run_a(rec: Any) -> None:
    import tensorflow as tf
    import tf_slim as slim

    def build() -> Any:
        conv = slim.conv2d(tf.constant(IMAGES), 4, [3, 3], scope="conv1", activation_fn=None,
                           biases_initializer=None)
        bn = slim.batch_norm(conv, epsilon=EPSILON, decay=MOMENTUM, is_training=True,
                             scope="conv1/BatchNorm")
        logits = slim.fully_connected(slim.flatten(tf.nn.relu(bn)), CLASSES, activation_fn=None,
                                      scope="logits")
        loss = _loss(logits)
        return {"conv": conv, "bn": bn, "logits": logits, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: bool = True, keras: str = "keras3") -> None:
    import keras as keras3
    import tensorflow as tf

    family = keras3 if keras == "keras3" else tf.keras
    conv = family.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv1")
    options = {} if fault else {"epsilon": EPSILON}
    batch_norm = family.layers.BatchNormalization(scale=False, momentum=MOMENTUM, name="bn",
                                                 **options)
    dense = family.layers.Dense(CLASSES, name="logits")
    x = tf.constant(IMAGES)
    # built by a call, in inference mode (no statistics update): tf-keras names variables
    # "conv1/kernel:0" only when they are made inside the layer's call ("kernel:0" from build())
    dense(tf.reshape(batch_norm(conv(x), training=False), [IMAGES.shape[0], -1]))

    def forward() -> Any:
        net = conv(x)
        bn = batch_norm(net, training=True)
        logits = dense(tf.reshape(tf.nn.relu(bn), [IMAGES.shape[0], -1]))
        loss = _loss(logits)
        return {"conv": net, "bn": bn, "logits": logits, "loss": loss}, loss

    def trainable() -> list[Any]:
        return conv.trainable_variables + batch_norm.trainable_variables + dense.trainable_variables

    _base.tf2_train(rec, forward, trainable, None, apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True,
             keras: str = "keras3") -> str:
    """``keras="tf_keras"``: the same layers from tf-keras, whose batch norm (fused, like
    slim's) updates the moving variance with the unbiased batch variance, as A does."""
    return common.record(path, lambda rec: run_b(rec, fault, keras), source, RENAME)
