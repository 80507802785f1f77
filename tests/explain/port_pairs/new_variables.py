"""``new-variables-per-call``: the migration guide's ``BrokenScalingLayer``.

A: the guide's ``FixedScalingLayer``: a ``track_tf1_style_variables`` layer that makes its
   ``tf.Variable``\\ s on the first call and reuses them; called 3 times eagerly on a 2x3
   input, with a hand SGD step on ``sum(outputs**2)`` after each call (so a fresh variable
   matters: it starts again from its initial value).
B: fault=True: ``BrokenScalingLayer`` (``tf.Variable`` inside ``call``: new ``scale`` and
   ``bias`` at every call); fault=False: the fixed layer again.

Evidence: B's variable events for calls 1 and 2 have ``call_index`` 1 and 2 and are extra
(names ``scale_1``, ``bias_1``, ...); B's outputs at steps 1 and 2 equal A's output at step 0
(every call starts from fresh weights: it also looks ``stale``).
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

CODES = ("new-variables-per-call", "stale")
CALLS, LR = 3, 0.01
INPUTS = np.arange(6, dtype=np.float32).reshape(2, 3)


def _run(rec: Any, broken: bool) -> None:
    import tensorflow as tf

    class ScalingLayer(tf.keras.layers.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.scale: Any = None
            self.bias: Any = None

        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, inputs: Any) -> Any:
            if broken or self.scale is None:
                self.scale = tf.Variable(initial_value=2.0, name="scale")
                self.bias = tf.Variable(initial_value=1.0, name="bias")
            return inputs * self.scale + self.bias

    layer = ScalingLayer()
    x = tf.constant(INPUTS)
    for _ in range(CALLS):
        with tf.GradientTape() as tape:
            outputs = layer(x)
            loss = tf.reduce_sum(tf.square(outputs))
        rec.endpoint("outputs", outputs)
        variables = [layer.scale, layer.bias]
        for var, grad in zip(variables, tape.gradient(loss, variables)):
            var.assign_sub(LR * grad)
        rec.snapshot_variables()
        rec.next_step()


def record_a(path: str) -> str:
    return common.record(path, lambda rec: _run(rec, broken=False))


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: _run(rec, broken=fault), source)
