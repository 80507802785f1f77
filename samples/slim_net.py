"""A small tf-slim network (conv + batch norm + dropout + fully connected) used by
the demo and the sample traces, trained the TF1 way and the TF2 way.

Both ways run the *same* model function, as a migration does on day one: in a
TF1 graph with a Session, and eagerly inside a Keras layer wrapped with
``tf.compat.v1.keras.utils.track_tf1_style_variables``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # track_tf1_style_variables needs tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

BATCH, SIZE, CLASSES, STEPS, LEARNING_RATE = 4, 16, 10, 1, 0.1


def model(images: Any, is_training: bool) -> tuple[Any, dict[str, Any]]:
    """The network, written TF1-style with tf-slim."""
    import tf_slim as slim

    end_points: dict[str, Any] = {}
    with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm,
                        normalizer_params={"is_training": is_training}):
        net = slim.conv2d(images, 8, [3, 3], scope="conv1")
        end_points["conv1"] = net
        net = slim.max_pool2d(net, [2, 2], scope="pool1")
        net = slim.flatten(net)
        net = slim.dropout(net, 0.5, is_training=is_training, scope="dropout")
        end_points["dropout"] = net
        logits = slim.fully_connected(net, CLASSES, activation_fn=None, scope="logits")
        end_points["logits"] = logits
    return logits, end_points


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, SIZE, SIZE, 3), dtype=np.float32)
    labels = rng.integers(0, CLASSES, size=BATCH).astype(np.int64)
    return images, labels
