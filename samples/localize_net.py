"""Localizing a change with no endpoint placed: a tf-slim net run TF1-style in a Session
and TF2-style eagerly through ``track_tf1_style_variables``, with one change planted in
its second convolution. Sample traces 5 (``make demo`` section 3).

    python samples/localize_net.py OUT.zarr session            # A: the TF1 run
    python samples/localize_net.py OUT.zarr shim --change epsilon   # B: batch-norm epsilon 1e-5

``--change`` is one of none, activation (tanh for relu), epsilon (1e-5 for 1e-3), padding
(VALID for SAME). The recording captures layers and ops in full (``ops="full"``); the
script places no endpoint.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # track_tf1_style_variables needs tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

CHANGES = ("none", "activation", "epsilon", "padding")


def images() -> np.ndarray:
    return np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)


def slim_net(x: Any, is_training: bool, change: str = "none") -> Any:
    """conv1 -> conv2 (batch norm, relu) -> spatial mean -> logits; ``change`` plants one
    difference in conv2 that keeps every variable's shape."""
    import tensorflow as tf
    import tf_slim as slim

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
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        logits = slim_net(tf.constant(images()), is_training, change)
        session.run(tf.compat.v1.global_variables_initializer())
        return session.run(logits)


def run_shim(change: str = "none", is_training: bool = True) -> np.ndarray:
    """The same net inside a tf-keras layer wrapped by track_tf1_style_variables, eagerly."""
    import tensorflow as tf

    class SlimNet(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, inputs: Any, training: bool = False) -> Any:
            return slim_net(inputs, training, change)

    return SlimNet()(tf.constant(images()), training=is_training).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("mode", choices=("session", "shim"))
    parser.add_argument("--change", choices=CHANGES, default="none")
    args = parser.parse_args()
    import tftrace
    from tftrace.recording.imports import alias_legacy_tf_layers

    alias_legacy_tf_layers()
    with tftrace.record(args.out, ops="full", layers="full", overwrite=True):
        (run_session if args.mode == "session" else run_shim)(args.change)


if __name__ == "__main__":
    main()
