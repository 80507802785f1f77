"""Real tf-slim nets run two ways: in a TF1 Session and eagerly through the
``track_tf1_style_variables`` shim. The same model function runs in both; it
reports its end points through the module-level ``tftrace.endpoint``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf
import tf_slim as slim
from tf_slim.nets import inception_v1, resnet_v1

import tftrace
from tftrace.recording.imports import alias_legacy_tf_layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "samples"))
import slim_net  # noqa: E402  (samples/ is not a package)

alias_legacy_tf_layers()  # baselines run slim.batch_norm outside any recording


def small_net(images: Any, is_training: bool) -> tuple[Any, dict[str, Any]]:
    """conv + batch norm + dropout + fully connected: every kind of random op and variable.

    The demo's and samples' net (samples/slim_net.py), so tests and samples run one model.
    """
    return slim_net.model(images, is_training)


def inception(images: Any, is_training: bool) -> tuple[Any, dict[str, Any]]:
    # use_batch_norm=False: slim's batch-norm collections compare variables with ==,
    # which fails eagerly under the shim (a tf-slim limitation, not tftrace's).
    with slim.arg_scope(inception_v1.inception_v1_arg_scope(use_batch_norm=False)):
        return inception_v1.inception_v1(images, num_classes=10, is_training=is_training)


def resnet(images: Any, is_training: bool) -> tuple[Any, dict[str, Any]]:
    with slim.arg_scope(resnet_v1.resnet_arg_scope()):
        return resnet_v1.resnet_v1_50(images, num_classes=10, is_training=is_training)


NETS: dict[str, tuple[Callable[..., Any], int]] = {
    "small": (small_net, 16), "inception_v1": (inception, 224), "resnet_v1_50": (resnet, 64)}

ENDPOINTS = {"small": ("conv1", "dropout", "logits"),
             "inception_v1": ("Mixed_3b", "Logits"),
             "resnet_v1_50": ("resnet_v1_50/block1",)}


def images(net: str, batch: int = 2) -> np.ndarray:
    size = NETS[net][1]
    return np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)


def _report(net: str, end_points: dict[str, Any]) -> None:
    for key in ENDPOINTS[net]:
        tftrace.endpoint(key, end_points[key])


def run_session(net: str, is_training: bool, steps: int = 1, seed: int | None = None) -> list[Any]:
    """Build the net in a fresh graph; initializer run, then ``steps`` forward runs."""
    fn = NETS[net][0]
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        if seed is not None:
            tf.compat.v1.set_random_seed(seed)
        logits, end_points = fn(tf.constant(images(net)), is_training)
        _report(net, end_points)
        sess.run(tf.compat.v1.global_variables_initializer())
        return [sess.run(logits) for _ in range(steps)]


def run_shim(net: str, is_training: bool, steps: int = 1, seed: int | None = None) -> list[Any]:
    """The same net in a Keras layer wrapped by track_tf1_style_variables, called eagerly."""
    fn = NETS[net][0]

    class SlimNet(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, inputs: Any, training: bool = False) -> Any:
            logits, end_points = fn(inputs, training)
            _report(net, end_points)
            return logits

    if seed is not None:
        tf.random.set_seed(seed)
    layer = SlimNet()
    x = tf.constant(images(net))
    return [layer(x, training=is_training).numpy() for _ in range(steps)]
