"""Turning what the user hands us into numpy, and observing tensors inside tf.function.

A ``tf.function`` (or a control-flow branch) runs as one op from Python's point
of view, so values computed inside it are observed by a stateful
``tf.numpy_function`` added to the function's graph; automatic control
dependencies run it, in program order, on every execution, not only at tracing.
Seeds do not move: TensorFlow derives graph op seeds from a per-graph counter of
seeded ops, not from the number of ops.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import func_graph, ops

from tftrace.errors import UsageError


def is_function_graph(graph: Any) -> bool:
    return isinstance(graph, func_graph.FuncGraph)


def is_symbolic(value: Any) -> bool:
    """A graph tensor (TF1 graph or tf.function), as opposed to an eager value."""
    return isinstance(value, tf.Tensor) and not isinstance(value, ops.EagerTensor)


def to_numpy(value: Any, name: str = "") -> np.ndarray | np.generic:
    """An eager tensor, variable, numpy array or Python scalar as numpy."""
    if isinstance(value, ops.EagerTensor):
        return value.numpy()
    if isinstance(value, tf.Variable):
        with tf.init_scope():
            return value.numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return value
    if isinstance(value, (bool, int, float, complex, str, bytes, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind == "U":
            array = np.asarray(np.char.encode(array, "utf-8"), dtype=object)
        return array
    raise UsageError(
        f"endpoint {name!r}: expected a tf.Tensor, tf.Variable, numpy array or Python "
        f"scalar, got {type(value).__name__}; convert composite tensors (sparse, ragged) "
        f"to dense first")


def observe_in_function(tensor: tf.Tensor, on_value: Callable[[np.ndarray], None]) -> Any:
    """Add a stateful op to ``tensor``'s function graph that calls ``on_value`` per execution.

    Returns the op, for callers that want to make a consumer depend on it.
    """
    def observe(array: Any) -> list[Any]:
        on_value(np.asarray(array) if not isinstance(array, np.ndarray) else array.copy())
        return []

    return tf.numpy_function(observe, [tensor], Tout=[], stateful=True,
                             name="tftrace_observe")
