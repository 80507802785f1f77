"""Small real models for the capture tests: one tf-slim net run in a TF1 Session and
eagerly through the ``track_tf1_style_variables`` shim, with one change planted on the
second convolution (activation, batch-norm epsilon or padding)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tf_slim as slim

from tftrace.recording.imports import alias_legacy_tf_layers

alias_legacy_tf_layers()  # slim.batch_norm outside a recording needs tf-keras' legacy layers

CHANGES = ("none", "activation", "epsilon", "padding")


def images() -> np.ndarray:
    return np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)


def slim_net(x: Any, is_training: bool, change: str = "none") -> Any:
    """conv1 -> conv2 (batch norm, relu) -> spatial mean -> logits; ``change`` plants one
    difference in conv2 that keeps every variable's shape."""
    activation = tf.nn.tanh if change == "activation" else tf.nn.relu
    epsilon = 1e-5 if change == "epsilon" else 1e-3
    padding = "VALID" if change == "padding" else "SAME"
    with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm,
                        normalizer_params={"is_training": is_training}):
        net = slim.conv2d(x, 4, [3, 3], scope="conv1")
        net = slim.conv2d(net, 4, [3, 3], padding=padding, activation_fn=activation,
                          normalizer_params={"is_training": is_training, "epsilon": epsilon},
                          scope="conv2")
        net = tf.reduce_mean(net, [1, 2])
        return slim.fully_connected(net, 3, activation_fn=None, scope="logits")


def run_session(change: str = "none", is_training: bool = True) -> np.ndarray:
    """Build in a fresh graph; the initializer run, then one forward run."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        logits = slim_net(tf.constant(images()), is_training, change)
        session.run(tf.compat.v1.global_variables_initializer())
        return session.run(logits)


def run_shim(change: str = "none", is_training: bool = True) -> np.ndarray:
    """The same net inside a tf-keras layer wrapped by track_tf1_style_variables, eagerly."""

    class SlimNet(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, inputs: Any, training: bool = False) -> Any:
            return slim_net(inputs, training, change)

    return SlimNet()(tf.constant(images()), training=is_training).numpy()
