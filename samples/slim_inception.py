"""A stock tf-slim network, ``tf_slim.nets.inception_v2``, made small: sample trace 1.

Inception v2 is the ``tf_slim.nets`` model that has both batch norm (after every
convolution, from its arg scope) and dropout (before the logits), and that takes a
``depth_multiplier`` and any input larger than 32x32. At depth_multiplier 0.1, a
32x32 input and 5 classes it has 277 variables and 146,389 parameters, so a trace
holding every initial value, random draw and snapshot stays under 5 MB.

The arg scope is the stock ``inception_v2_arg_scope()`` with one change: the batch
norm parameters lose ``variables_collections`` (which only adds the moving statistics
to a ``moving_vars`` collection). tf-slim adds a variable to a collection with
``if var not in ops.get_collection(...)``: run eagerly (under
``track_tf1_style_variables``) that ``in`` compares two variables with ``==``, which is
elementwise, and raises "The truth value of an array with more than one element is
ambiguous". Every stock tf-slim arg scope with batch norm sets that collection
(inception v1, v2, v3); resnet's does not, but resnet has no dropout.

Same interface as ``slim_net``: ``model``, ``data`` and the constants the training
scripts read (``python samples/train_tf1.py OUT.zarr slim_inception``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # track_tf1_style_variables needs tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

BATCH, SIZE, CLASSES, STEPS, LEARNING_RATE = 4, 32, 5, 1, 0.01
DEPTH_MULTIPLIER = 0.1
#: End points recorded (the net's own names): the stem, one inception block, the logits.
END_POINTS = ("Conv2d_1a_7x7", "Mixed_3b", "Mixed_5c", "Logits")


def arg_scope() -> dict[str, Any]:
    """``inception_v2_arg_scope()`` without the ``moving_vars`` collection (see above)."""
    from tf_slim.nets import inception_v2

    scope = {}
    for key, kwargs in inception_v2.inception_v2_arg_scope().items():
        kwargs = dict(kwargs)
        if "normalizer_params" in kwargs:
            params = dict(kwargs["normalizer_params"])
            params.pop("variables_collections", None)
            kwargs["normalizer_params"] = params
        scope[key] = kwargs
    return scope


def model(images: Any, is_training: bool) -> tuple[Any, dict[str, Any]]:
    """The network, written TF1-style with tf-slim."""
    import tf_slim as slim
    from tf_slim.nets import inception_v2

    with slim.arg_scope(arg_scope()):
        logits, end_points = inception_v2.inception_v2(
            images, num_classes=CLASSES, is_training=is_training,
            depth_multiplier=DEPTH_MULTIPLIER)
    return logits, {name: end_points[name] for name in END_POINTS}


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, SIZE, SIZE, 3), dtype=np.float32)
    labels = rng.integers(0, CLASSES, size=BATCH).astype(np.int64)
    return images, labels
