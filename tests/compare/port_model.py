"""Issue 14's port: a TF1 model (variable scopes, ``compat.v1.layers`` conv + batch norm +
dropout + dense, a TF1 optimizer, Session steps) and the same model function through the
``track_tf1_style_variables`` shim, trained with ``tf.GradientTape`` and a Keras optimizer
in a ``tf.function``, recorded under ``tftrace.replay`` of the TF1 run.

Both sides record, per step: endpoints ``logits`` and ``loss`` (before the update), then
a snapshot of every variable (after it). Planted faults (side B, one at a time):
``bn_epsilon`` (A: 1e-3), ``lr_once`` (the schedule evaluated once, outside the step),
``adam_epsilon`` (A: 1e-8; Keras' default is 1e-7).

``conv_bias``: the convolution before batch norm has a bias (as ``layers.conv2d`` does
by default). Batch norm cancels it, so its gradient is round-off that Adam scales up to
the learning rate: the bias and the moving mean that absorbs it differ between two correct
implementations by up to 0.3 of their norm after 5 steps (docs/diff.md, "Tolerances from
the noise floor"). Without it (the usual way to write a conv before batch norm) every
quantity of the correct port is within the default tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tftrace

BATCH, SIZE, CHANNELS, CLASSES, STEPS = 4, 8, 3, 5, 5
FILTERS = 4
BASE_LR, DECAY_STEPS, DECAY_RATE = 0.01, 2, 0.5
MOMENTUM = 0.9
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
ADAM_EPSILON = 1e-8  # tf.compat.v1.train.AdamOptimizer's default
DROPOUT_RATE = 0.25
SEED = 42


def data(step: int) -> tuple[np.ndarray, np.ndarray]:
    """Batch of ``step``: images in [0, 1), integer labels."""
    rng = np.random.default_rng(100 + step)
    images = rng.random((BATCH, SIZE, SIZE, CHANNELS), dtype=np.float32)
    labels = rng.integers(0, CLASSES, size=BATCH).astype(np.int64)
    return images, labels


def model(images: Any, training: bool, bn_epsilon: float = BN_EPSILON,
          conv_bias: bool = False) -> Any:
    """TF1-style model function: the same code runs in the graph and in the shim."""
    import tensorflow as tf

    layers = tf.compat.v1.layers
    with tf.compat.v1.variable_scope("net"):
        net = layers.conv2d(images, FILTERS, 3, padding="same", use_bias=conv_bias, name="conv1")
        net = layers.batch_normalization(net, training=training, epsilon=bn_epsilon, name="bn1")
        net = tf.nn.relu(net)
        net = layers.dropout(net, rate=DROPOUT_RATE, training=training, name="dropout")
        net = layers.flatten(net)
        return layers.dense(net, CLASSES, name="logits")


def perturb_variables(session: Any, variables: Any, ulps: int) -> None:
    """Move every variable by ``ulps`` units in the last place: a run that differs from the
    reference only by last-bit noise, to measure how far each quantity amplifies it."""
    for _ in range(ulps):
        for var in variables:
            var.load(np.nextafter(session.run(var), np.float32(np.inf)), session)


def run_a(optimizer: str = "adam", constant_lr: bool = False, conv_bias: bool = False,
          perturb: int = 0, steps: int = STEPS) -> None:
    """Side A inside an active recording: a TF1 graph and Session."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        images = tf.compat.v1.placeholder(tf.float32, (BATCH, SIZE, SIZE, CHANNELS), "images")
        labels = tf.compat.v1.placeholder(tf.int64, (BATCH,), "labels")
        logits = model(images, training=True, conv_bias=conv_bias)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                             logits=logits))
        tftrace.endpoint("logits", logits)
        tftrace.endpoint("loss", loss)
        global_step = tf.compat.v1.train.get_or_create_global_step()
        learning_rate: Any = BASE_LR if constant_lr else tf.compat.v1.train.exponential_decay(
            BASE_LR, global_step, DECAY_STEPS, DECAY_RATE)
        if optimizer == "adam":
            opt = tf.compat.v1.train.AdamOptimizer(learning_rate, epsilon=ADAM_EPSILON)
        else:
            opt = tf.compat.v1.train.MomentumOptimizer(learning_rate, MOMENTUM)
        with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
            train = opt.minimize(loss, global_step=global_step)
        sess.run(tf.compat.v1.global_variables_initializer())
        perturb_variables(sess, tf.compat.v1.trainable_variables(), perturb)
        for step in range(steps):
            x, y = data(step)
            sess.run([train, loss], feed_dict={images: x, labels: y})
            tftrace.snapshot_variables()
            tftrace.next_step()


def make_optimizer(optimizer: str, keras: str, lr_once: bool, constant_lr: bool,
                   adam_epsilon: float) -> Any:
    import keras as keras3
    import tensorflow as tf

    family: Any = keras3 if keras == "keras3" else tf.keras
    learning_rate: Any = BASE_LR
    if not constant_lr:
        learning_rate = family.optimizers.schedules.ExponentialDecay(BASE_LR, DECAY_STEPS,
                                                                      DECAY_RATE)
        if lr_once:  # the planted bug: the schedule evaluated once, outside the step
            learning_rate = float(learning_rate(0))
    if optimizer == "adam":
        return family.optimizers.Adam(learning_rate, epsilon=adam_epsilon)
    return family.optimizers.SGD(learning_rate, momentum=MOMENTUM)


def run_b(optimizer: str = "adam", keras: str = "tf_keras", bn_epsilon: float = BN_EPSILON,
          adam_epsilon: float = ADAM_EPSILON, lr_once: bool = False, constant_lr: bool = False,
          conv_bias: bool = False, steps: int = STEPS) -> None:
    """Side B inside an active recording: the shim layer, GradientTape, a Keras optimizer,
    one ``tf.function`` step. The layer and the optimizer's slots are built eagerly first:
    variables created while a ``tf.function`` is traced are not recorded (docs/recording.md)."""
    import tensorflow as tf

    class PortedNet(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, images: Any, training: bool = False) -> Any:
            return model(images, training=training, bn_epsilon=bn_epsilon, conv_bias=conv_bias)

    layer = PortedNet()
    opt = make_optimizer(optimizer, keras, lr_once, constant_lr, adam_epsilon)
    layer(tf.zeros((BATCH, SIZE, SIZE, CHANNELS)), training=False)
    opt.build(layer.trainable_variables)

    @tf.function
    def train_step(images: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = layer(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=logits))
        tftrace.endpoint("logits", logits)
        tftrace.endpoint("loss", loss)
        grads = tape.gradient(loss, layer.trainable_variables)
        opt.apply_gradients(zip(grads, layer.trainable_variables))
        return loss

    for step in range(steps):
        x, y = data(step)
        train_step(tf.constant(x), tf.constant(y))
        tftrace.snapshot_variables()
        tftrace.next_step()


def reset_keras() -> None:
    """Keras' global name counters, so names do not depend on what ran before."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    tf.keras.backend.clear_session()


def record_a(path: Any, **options: Any) -> str:
    reset_keras()
    with tftrace.record(str(path), seed=SEED, overwrite=True):
        run_a(**options)
    return str(path)


def record_b(path: Any, source: Any, **options: Any) -> str:
    reset_keras()
    with tftrace.replay(str(source), record_to=str(path), seed=SEED, overwrite=True):
        run_b(**options)
    return str(path)
