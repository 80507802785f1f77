"""A layer that creates new variables on every call: sample trace 3.

    python samples/new_variables_per_call.py OUT.zarr

The migration guide's ``BrokenScalingLayer``: a ``track_tf1_style_variables`` layer
whose ``call`` makes its weights with ``tf.Variable`` instead of
``tf.compat.v1.get_variable``. The shim reuses variables made through
``get_variable`` (by name) but not plain ``tf.Variable``\\ s, so every call builds a
fresh ``scale`` and ``bias`` and the layer never trains the ones it made first.
The layer is called ``CALLS`` times; ``tftrace check`` flags the variables of
calls 1 and 2 (0 is the first call) with the line that created them.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # track_tf1_style_variables needs tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tftrace  # noqa: E402

CALLS = 3


class BrokenScalingLayer(tf.keras.layers.Layer):
    """Scaling layer that incorrectly creates new weights each time it is called."""

    @tf.compat.v1.keras.utils.track_tf1_style_variables
    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        scale = tf.Variable(initial_value=2.0, name="scale")  # new variable on every call
        bias = tf.Variable(initial_value=1.0, name="bias")  # new variable on every call
        return inputs * scale + bias


def main(out: str) -> None:
    inputs = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    with tftrace.record(out, seed=42, seed_mode="num_random_ops", overwrite=True) as rec:
        layer = BrokenScalingLayer()
        for _ in range(CALLS):
            rec.endpoint("outputs", layer(inputs))


if __name__ == "__main__":
    main(sys.argv[1])
