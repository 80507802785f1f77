"""Statistics of a value computed inside a ``tf.function``'s graph, so the tensor never
leaves it: only a small vector per value reaches Python (captured streams at level
``stats``).

The statistics are those the writer computes from an array (format/digest.py): min and
max over the values that are not NaN, their mean, the NaN and Inf counts. The common
case (no NaN, no Inf: the sum is finite) costs three reductions over the tensor; when
the sum is not finite the values themselves reach the host, which masks the NaNs. The mean is
summed in float32 for float32 and narrower values (TensorFlow's reduction, not numpy's):
it can differ from the writer's in the last bits, within any tolerance. There is no
content digest: such values compare by their statistics.
"""

from __future__ import annotations

import contextlib
import math
import threading
import weakref
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from tftrace.format.schema import Stats, ValueSummary

#: The vector's layout: min, max, sum, the count of values that follow (0 when the sum is
#: finite), then the shape if not static, then those values.
_FIXED = 4
#: The name scope of the statistics ops (the observer-effect check tells them apart).
SUMMARY_SCOPE = "tftrace_summary"
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
    """A float64 vector [min, max, sum, n] of ``tensor``, computed in its graph, followed
    by its shape when the graph does not know it (:func:`static_shape` is None), then by
    its n values when their sum is not finite (n is 0 otherwise)."""
    with building(), tf.name_scope(SUMMARY_SCOPE):
        return _summary_vector(tensor)


def static_shape(tensor: Any) -> tuple[int, ...] | None:
    """``tensor``'s shape when its graph knows every dimension, else None."""
    shape = tensor.shape
    if shape.rank is None or not shape.is_fully_defined():
        return None
    return tuple(int(n) for n in shape.as_list())


def _summary_vector(tensor: Any) -> Any:
    # Few ops per value, and no control flow: a training step observes thousands of
    # values, and each op costs time to create (about 1 ms) and, in Grappler, to optimize
    # at run time and in the observer-effect check (MobileNetV2's step with a ``cond``
    # per value: 103k nodes, about 350 s, past Grappler's run-time deadline when loaded).
    # Three reductions; when their sum is not finite (NaN, Inf, an overflow) the values
    # follow, as float64 (exact), and the host masks the NaNs; else an empty slice
    # follows (no copy). Constants are shared per graph.
    shared = _constants(tensor.graph)
    flat = tf.raw_ops.Reshape(tensor=tensor, shape=shared["flat"])
    x = flat if tensor.dtype in (tf.float32, tf.float64) else tf.raw_ops.Cast(x=flat, DstT=tf.float32)
    axis = shared["axis"]
    total = tf.raw_ops.Sum(input=x, axis=axis)
    head = tf.raw_ops.Pack(values=[tf.raw_ops.Min(input=x, axis=axis),
                                   tf.raw_ops.Max(input=x, axis=axis), total])
    count = tf.raw_ops.SelectV2(condition=tf.raw_ops.IsFinite(x=total), t=shared["zero"],
                                e=tf.raw_ops.Size(input=flat, out_type=tf.int32))
    size = tf.raw_ops.Pack(values=[count])
    values = tf.raw_ops.Slice(input=flat, begin=shared["begin"], size=size)
    parts = [tf.raw_ops.Cast(x=head, DstT=tf.float64), tf.raw_ops.Cast(x=size, DstT=tf.float64)]
    if static_shape(tensor) is None:
        parts.append(tf.raw_ops.Cast(x=tf.raw_ops.Shape(input=tensor), DstT=tf.float64))
    parts.append(tf.raw_ops.Cast(x=values, DstT=tf.float64))
    return tf.raw_ops.ConcatV2(values=parts, axis=axis)


_shared: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _constants(graph: Any) -> dict[str, Any]:
    """The constants every statistics vector of ``graph`` uses, made once per graph."""
    if graph not in _shared:
        with graph.as_default():
            _shared[graph] = {"flat": tf.constant([-1]), "axis": tf.constant(0),
                              "zero": tf.constant(0), "begin": tf.constant([0])}
    return _shared[graph]


def value_summary(vector: np.ndarray, dtype: str,
                  shape: tuple[int, ...] | None = None) -> ValueSummary:
    """The :class:`ValueSummary` of a value from its :func:`summary_vector` and its
    :func:`static_shape` (None: the shape follows the statistics in the vector)."""
    low, high, total, count = vector[:_FIXED].tolist()  # Python floats at once
    count = int(count)
    values = vector[len(vector) - count:]
    if shape is None:
        shape = tuple(int(n) for n in vector[_FIXED:len(vector) - count].tolist())
    size = math.prod(shape)
    nan = inf = 0
    if count:  # the sum was not finite: the masked statistics, from the values
        finite = ~np.isnan(values)
        nan, inf = int(len(values) - finite.sum()), int(np.isinf(values).sum())
        if nan < len(values):
            kept = values[finite]
            with np.errstate(invalid="ignore"):  # Inf and -Inf sum to NaN, as in the writer
                low, high, total = float(kept.min()), float(kept.max()), float(kept.sum())
    counted = size - nan
    if size == 0 or counted == 0:
        return ValueSummary(shape, dtype, Stats(size=size, nan_count=nan, inf_count=inf))
    return ValueSummary(shape, dtype, Stats(size=size, min=low, max=high, mean=total / counted,
                                            nan_count=nan, inf_count=inf))
