"""One op whose kernel changed between TensorFlow versions: tanh, eagerly, on 4096 values.
Sample traces 6 (``sample_traces/kernel_tanh_tf*.zarr.zip``), for op isolation.

    python samples/kernel_tanh.py OUT.zarr.zip

TensorFlow 2.15 and 2.21 give tanh values up to 4 ULP apart on the same inputs (within the
default tolerance; ``tftrace explain --rtol 0 --atol 0`` re-runs the op and names the
kernel). The input (relu, then a subtraction) is computed identically by both.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def values() -> np.ndarray:
    return np.random.default_rng(3).normal(0.0, 2.0, (4096,)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    args = parser.parse_args()
    import tensorflow as tf

    import tftrace

    with tftrace.record(args.out, ops="full", layers="off", gradients="off", overwrite=True):
        with tf.name_scope("block"):
            hidden = tf.nn.relu(tf.constant(values())) - 1.0
            tf.tanh(hidden)


if __name__ == "__main__":
    main()
