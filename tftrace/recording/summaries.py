"""Statistics of a value computed inside a ``tf.function``'s graph, so the tensor never
leaves it: only a small vector per value reaches Python (captured streams at level
``stats``).

The statistics are those the writer computes from an array (format/digest.py): min and
max over the values that are not NaN, their mean, the NaN and Inf counts. The common
case (no NaN, no Inf: the sum is finite) costs three reductions over the tensor; the
other branch, which masks the NaNs, runs only when the sum is not finite. The mean is
summed in float32 for float32 and narrower values (TensorFlow's reduction, not numpy's):
it can differ from the writer's in the last bits, within any tolerance. There is no
content digest: such values compare by their statistics.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from tftrace.format.schema import Stats, ValueSummary

#: The vector's layout: min, max, sum, NaN count, Inf count, then the shape if not static.
_FIXED = 5
_building = threading.local()


@contextlib.contextmanager
def building() -> Iterator[None]:
    """While tftrace adds its statistics ops to a graph (in this thread): the op capture
    must not observe them (each would get statistics ops of its own, without end)."""
    outer = getattr(_building, "on", False)
    _building.on = True
    try:
        yield
    finally:
        _building.on = outer


def is_building() -> bool:
    """True while :func:`building` (in this thread)."""
    return bool(getattr(_building, "on", False))


def summarizable(tensor: Any) -> bool:
    """Real floating values: complex, integer and bool values are observed whole."""
    return bool(tensor.dtype.is_floating)


def summary_vector(tensor: Any) -> Any:
    """A float64 vector [min, max, sum, nan, inf] of ``tensor``, computed in its graph,
    followed by its shape when the graph does not know it (:func:`static_shape` is None)."""
    with building():
        return _summary_vector(tensor)


def static_shape(tensor: Any) -> tuple[int, ...] | None:
    """``tensor``'s shape when its graph knows every dimension, else None."""
    shape = tensor.shape
    if shape.rank is None or not shape.is_fully_defined():
        return None
    return tuple(int(n) for n in shape.as_list())


def _summary_vector(tensor: Any) -> Any:
    # Few ops per value (a training step observes thousands): three reductions, the
    # vector, the finite check; the masked branch runs only when the sum is not finite.
    # Each value has its own condition, so it is released once its own sum is known.
    x = tensor if tensor.dtype in (tf.float32, tf.float64) else tf.cast(tensor, tf.float32)
    low, high, total = tf.reduce_min(x), tf.reduce_max(x), tf.reduce_sum(x)
    zero = tf.zeros([], x.dtype)
    head = tf.cast(tf.stack([low, high, total, zero, zero]), tf.float64)

    def masked() -> Any:
        values = tf.cast(x, tf.float64)
        nan = tf.math.is_nan(values)
        inf = tf.constant(np.inf, tf.float64)
        return tf.stack([tf.reduce_min(tf.where(nan, inf, values)),
                         tf.reduce_max(tf.where(nan, -inf, values)),
                         tf.reduce_sum(tf.where(nan, tf.zeros_like(values), values)),
                         tf.reduce_sum(tf.cast(nan, tf.float64)),
                         tf.reduce_sum(tf.cast(tf.math.is_inf(values), tf.float64))])

    vector = tf.cond(tf.math.is_finite(total), lambda: head, masked)
    if static_shape(tensor) is None:
        vector = tf.concat([vector, tf.cast(tf.shape(tensor), tf.float64)], axis=0)
    return vector


def value_summary(vector: np.ndarray, dtype: str,
                  shape: tuple[int, ...] | None = None) -> ValueSummary:
    """The :class:`ValueSummary` of a value from its :func:`summary_vector` and its
    :func:`static_shape` (None: the shape follows the statistics in the vector)."""
    numbers = vector.tolist()  # Python floats at once (indexing numpy costs more per value)
    low, high, total, nan, inf = numbers[:_FIXED]
    if shape is None:
        shape = tuple(int(n) for n in numbers[_FIXED:])
    size = math.prod(shape)
    counted = size - int(nan)
    if size == 0 or counted == 0:
        return ValueSummary(shape, dtype, Stats(size=size, nan_count=int(nan), inf_count=int(inf)))
    return ValueSummary(shape, dtype, Stats(size=size, min=low, max=high, mean=total / counted,
                                            nan_count=int(nan), inf_count=int(inf)))
