"""Small real programs for op isolation, each recorded with op capture.

- ``conv``: relu then a 3x3 convolution with a variable kernel. A builds it TF1-style in a
  Session, B runs it eagerly (TF2); ``padding`` plants VALID for SAME in B.
- ``leaky``: relu then leaky relu, eagerly on both sides; ``alpha`` plants 0.1 for 0.2 in B.
- ``amplify``: relu, times 100, exp, eagerly; ``perturb`` moves B's input by one ULP in a
  few elements: every op before exp stays within the default tolerance, exp turns the
  one-ULP change into a relative error of about 1e-5, so exp is where the diff first sees
  a divergence, with inputs that already differed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import tftrace


def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1.0, 1.0, (2, 8, 8, 3)).astype(np.float32)


def kernel() -> np.ndarray:
    return np.random.default_rng(1).normal(0.0, 0.3, (3, 3, 3, 4)).astype(np.float32)


def conv_session(path: Path | str, padding: str = "SAME", ops: str = "full") -> str:
    import tensorflow as tf

    with tftrace.record(path, ops=ops, layers="off"):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
            with tf.compat.v1.variable_scope("conv"):
                weights = tf.compat.v1.get_variable(
                    "kernel", initializer=tf.constant_initializer(kernel()), shape=(3, 3, 3, 4))
                hidden = tf.nn.relu(tf.constant(images()))
                out = tf.nn.conv2d(hidden, weights, strides=1, padding=padding)
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(out)
    return str(path)


def conv_eager(path: Path | str, padding: str = "SAME", ops: str = "full") -> str:
    import tensorflow as tf

    with tftrace.record(path, ops=ops, layers="off"):
        weights = tf.Variable(kernel(), name="conv/kernel")
        with tf.name_scope("conv"):
            hidden = tf.nn.relu(tf.constant(images()))
            tf.nn.conv2d(hidden, weights, strides=1, padding=padding)
    return str(path)


def leaky_eager(path: Path | str, alpha: float = 0.2) -> str:
    import tensorflow as tf

    with tftrace.record(path, ops="full", layers="off"):
        with tf.name_scope("block"):
            hidden = tf.nn.relu(tf.constant(images()) - 0.25)
            tf.nn.leaky_relu(hidden - 0.5, alpha=alpha)
    return str(path)


def amplify_eager(path: Path | str, perturb: bool = False) -> str:
    import tensorflow as tf

    x = np.random.default_rng(2).uniform(0.1, 0.8, (64,)).astype(np.float32)
    if perturb:  # one ULP up in every fourth element
        x[::4] = np.nextafter(x[::4], np.float32(1.0))
    with tftrace.record(path, ops="full", layers="off"):
        with tf.name_scope("amplify"):
            hidden = tf.nn.relu(tf.constant(x))
            tf.exp(hidden * 100.0)
    return str(path)


def first_op(result: Any) -> Any:
    """The first divergence, asserted to be an op pair."""
    first = result.first_divergence
    assert first is not None and first.kind == "op", result.to_json()
    return first
