"""Statistics of values computed inside a ``tf.function``'s graph, so the tensors never
leave it: only a small vector per graph reaches Python (captured streams at level
``stats``).

The statistics are those the writer computes from an array (format/digest.py): min and
max over the values that are not NaN, their mean, the NaN and Inf counts. There is no
content digest: such values compare by their statistics. Two ways to compute them, the
same statistics up to the mean's last bits; the environment's ``kernels.statistics``
says which a recording used:

* ``kernel`` (:mod:`statistics_kernel`): per value its reshape to one row (no copy)
  and one op, ``TftraceStatistics``, which reads the value once (all statistics in one
  pass, on the CPU's worker threads, with a split that does not depend on them) and
  gives 6 float64 numbers (and the shape when the
  graph does not know it). The mean is summed in float32 per block of 65536 elements for
  float32 and narrower values, the blocks in float64 (a block that overflows float32 in
  float64): it can differ from TensorFlow's Sum in the last bits.
* ``reductions``, when the kernel cannot be built: per value its flattening (and a cast
  to float32 for narrower floats), Min, Max, Sum, the finiteness test of the sum and the
  slice of the values that follows when it fails (:func:`value_statistics`): the common
  case (no NaN, no Inf: the sum is finite) costs three passes over the tensor; when the
  sum is not finite the values themselves reach the host, which masks the NaNs. The
  mean is summed in float32 for float32 and narrower values (TensorFlow's reduction).

What every value shares is built once per graph over all of them
(:class:`GraphStatistics`): one ``ConcatV2`` of the kernel's outputs; for the
reductions one ``Pack`` of the scalars per reduction dtype, one ``ConcatV2`` of the
slices, one cast, and the shapes the graph does not know; the host splits the vector
back into one :class:`ValueSummary` per value.
"""

from __future__ import annotations

import contextlib
import math
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import tensorflow as tf

from tftrace.format.schema import Stats, ValueSummary
from tftrace.recording import statistics_kernel

#: The name scope of the statistics ops (the observer-effect check tells them apart).
SUMMARY_SCOPE = "tftrace_summary"
#: How the statistics were computed (the environment's ``kernels.statistics``).
KERNEL, REDUCTIONS = "kernel", "reductions"
#: The kernel's numbers per value (then, when the graph does not know the shape, the
#: rank and the dimensions): min, max, sum of the finite values, NaN, +Inf, -Inf counts.
KERNEL_WIDTH = 6
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


def static_shape(tensor: Any) -> tuple[int, ...] | None:
    """``tensor``'s shape when its graph knows every dimension, else None."""
    shape = tensor.shape
    if shape.rank is None or not shape.is_fully_defined():
        return None
    return tuple(int(n) for n in shape.as_list())


@dataclass
class ValueStatistics:
    """The statistics ops of one value in its graph (:func:`value_statistics`)."""

    tensor: Any  # the value
    probe: Any  # one vector reading all of the below: what the observer-effect check reads
    # The reductions' (None for the kernel, whose output is the probe):
    low: Any = None  # its min, max and sum: scalars of ``values``' dtype (float32 or float64)
    high: Any = None
    total: Any = None
    values: Any = None  # the value as one row when ``total`` is not finite, else an empty row
    shape: Any = None  # its shape in the graph (int32; unknown rank: rank, then shape), or None

    @property
    def path(self) -> str:
        return REDUCTIONS if self.low is not None else KERNEL

    @property
    def wide(self) -> bool:
        return bool(self.low is not None and self.low.dtype == tf.float64)


def value_statistics(tensor: Any) -> ValueStatistics:
    """The per-value statistics ops of ``tensor`` (in the graph being traced)."""
    op = statistics_kernel.statistics_op()  # built or loaded once per process
    with building(), tf.name_scope(SUMMARY_SCOPE):
        if op is None:
            return _value_statistics(tensor)
        # The value read once, as one row (its buffer, not a copy), as the reductions
        # read it: on Keras 3 MobileNetV2's training step the kernel reading each value
        # directly left 258-385 variables different after 1-2 steps (the check saw no
        # change in the optimized graph; not understood), through the row none
        # (docs/benchmarks.md). Floats the kernel does not read (float8...) are cast to
        # float32 first, as the reductions do. A shape the graph does not know is the
        # kernel's to give: such a value is read directly.
        unknown = static_shape(tensor) is None
        row = tensor if unknown else tf.raw_ops.Reshape(tensor=tensor, shape=_constants(tensor.graph)["row"])
        x = row if tensor.dtype.name in statistics_kernel.DTYPES else \
            tf.raw_ops.Cast(x=row, DstT=tf.float32)
        return ValueStatistics(tensor, op(x, with_shape=unknown))


def _value_statistics(tensor: Any) -> ValueStatistics:
    # Few ops per value and no control flow: a training step observes thousands of
    # values, each op costs time to create (about 1 ms in a function graph) and to run,
    # and in Grappler to optimize (MobileNetV2's step with a ``cond`` per value: 103k
    # nodes, past Grappler's run-time deadline when loaded). The finiteness test stays
    # per value, on its own sum: a test over the sums of all values would keep every
    # value alive until the last one's sum (the peak memory Grappler estimates, and with
    # it its rewrites, would change). When the sum is not finite (NaN, Inf, an overflow)
    # the slice is the whole value (exact as float32 or float64) and the host masks the
    # NaNs; else it is empty (no copy).
    shared = _constants(tensor.graph)
    # One row, not a flat vector: an empty slice of a vector is a view of the value's
    # buffer (TensorFlow's Slice aliases a slice along the first dimension), which would
    # keep every value alive until the grouped vector is made; an empty slice of a row
    # is a new, empty tensor.
    row = tf.raw_ops.Reshape(tensor=tensor, shape=shared["row"])
    x = row if tensor.dtype in (tf.float32, tf.float64) else tf.raw_ops.Cast(x=row, DstT=tf.float32)
    axes = shared["axes"]
    low, high = tf.raw_ops.Min(input=x, axis=axes), tf.raw_ops.Max(input=x, axis=axes)
    total = tf.raw_ops.Sum(input=x, axis=axes)
    count = tf.raw_ops.SelectV2(condition=tf.raw_ops.IsFinite(x=total), t=shared["none"],
                                e=shared["all"])
    values = tf.raw_ops.Slice(input=x, begin=shared["begin"], size=count)
    # The check's probe reads every op above (the slice through its sum): nothing reads
    # it once the values are grouped (GraphStatistics), so Grappler prunes it from the
    # graph that runs. Two nodes: each op made costs about 1 ms.
    read = [low, high, total, tf.raw_ops.Sum(input=values, axis=axes)]
    shape = None
    if static_shape(tensor) is None:
        shape = tf.raw_ops.Shape(input=tensor)
        if tensor.shape.rank is None:
            rank = tf.raw_ops.Reshape(tensor=tf.raw_ops.Rank(input=tensor), shape=shared["flat"])
            shape = tf.raw_ops.ConcatV2(values=[rank, shape], axis=shared["axis"])
        read.append(tf.raw_ops.Sum(input=tf.raw_ops.Cast(x=shape, DstT=x.dtype), axis=shared["axis"]))
    probe = tf.raw_ops.Pack(values=read)
    return ValueStatistics(tensor, probe, low, high, total, values, shape)


class GraphStatistics:
    """The statistics vector of many values of one graph, built once over their
    per-value ops, and its split into one :class:`ValueSummary` per value on the host.

    The vector: the kernel's outputs of the values it computed, in order; then for the
    reductions the unknown shapes, then per reduction dtype (float32, float64) the mins,
    the maxs, the sums, then the slices that follow a sum that is not finite.
    """

    def __init__(self, graph: Any, statistics: Sequence[ValueStatistics]) -> None:
        self._dtypes = [s.tensor.dtype.name for s in statistics]
        self._shapes = [static_shape(s.tensor) for s in statistics]
        self._sizes = [None if shape is None else math.prod(shape) for shape in self._shapes]
        self._ranks = [s.tensor.shape.rank for s in statistics]
        self._kernel = [k for k, s in enumerate(statistics) if s.path == KERNEL]
        self._groups = [[k for k, s in enumerate(statistics) if s.path == REDUCTIONS and s.wide == wide]
                        for wide in (False, True)]
        #: How these statistics are computed (``kernel``, ``reductions``, or both).
        self.paths = frozenset(s.path for s in statistics)
        #: Each value's shape, dtype and size (None where the graph does not know them).
        self.layouts = list(zip(self._shapes, self._dtypes, self._sizes))
        # every value's statistics from the kernel, its shape known and not empty: common()
        common = not any(self._groups) and all(self._sizes)
        self._divisors = np.array(self._sizes, np.float64) if common and self._sizes else None
        with building(), graph.as_default(), tf.name_scope(SUMMARY_SCOPE):
            shared = _constants(graph)
            axis = shared["axis"]
            parts = []
            if self._kernel:
                parts.append(_concat([statistics[k].probe for k in self._kernel], axis))
            shapes = [s.shape for s in statistics if s.shape is not None]
            if shapes:
                parts.append(tf.raw_ops.Cast(x=_concat(shapes, axis), DstT=tf.float64))
            for group in self._groups:
                if not group:
                    continue
                members = [statistics[k] for k in group]
                head = tf.raw_ops.Pack(values=[s.low for s in members] + [s.high for s in members]
                                       + [s.total for s in members])
                part = tf.raw_ops.ConcatV2(
                    values=[tf.raw_ops.Reshape(tensor=head, shape=shared["row"])]
                    + [s.values for s in members], axis=shared["one"])
                part = tf.raw_ops.Reshape(tensor=part, shape=shared["flat"])
                parts.append(part if members[0].wide else tf.raw_ops.Cast(x=part, DstT=tf.float64))
            self.vector = _concat(parts, axis)

    def split(self, vector: np.ndarray) -> list[ValueSummary]:
        """The :class:`ValueSummary` of each value, in the order given, from :attr:`vector`."""
        out: list[ValueSummary | None] = [None] * len(self._dtypes)
        shapes = list(self._shapes)
        at = 0
        if self._kernel:
            at = self._split_kernel(vector, out)
        for k, shape in enumerate(shapes):  # the shapes the graph did not know
            if shape is None and out[k] is None:
                rank = self._ranks[k]
                if rank is None:
                    rank = int(vector[at])
                    at += 1
                shapes[k] = tuple(int(n) for n in vector[at:at + rank].tolist())
                at += rank
        for group in self._groups:
            n = len(group)
            if not n:
                continue
            head = vector[at:at + 3 * n].tolist()  # Python floats at once
            at += 3 * n
            for j, k in enumerate(group):
                low, high, total = head[j], head[n + j], head[2 * n + j]
                shape = shapes[k]
                assert shape is not None
                values = vector[at:at]
                if not math.isfinite(total):
                    size = math.prod(shape)
                    values = vector[at:at + size]
                    at += size
                out[k] = _summary(low, high, total, values, shape, self._dtypes[k])
        return [summary for summary in out if summary is not None]

    def common(self, vector: np.ndarray) -> tuple[list[float], list[float], list[float]] | None:
        """Each value's min, max and mean, those :meth:`split` gives, in the common case:
        the kernel computed every value's statistics, of a known shape with elements, and
        none holds a NaN or an Inf; else None. Split at once (numpy)."""
        divisors = self._divisors
        if divisors is None or vector.shape != (KERNEL_WIDTH * len(divisors),):
            return None
        rows = vector.reshape(-1, KERNEL_WIDTH)
        if rows[:, 3:].any():  # a NaN or an Inf counted
            return None
        # as _kernel_summary's mean: a float64 division, correctly rounded either way
        return rows[:, 0].tolist(), rows[:, 1].tolist(), (rows[:, 2] / divisors).tolist()

    def _split_kernel(self, vector: np.ndarray, out: list[ValueSummary | None]) -> int:
        """The summaries of the values the kernel computed, into ``out``; returns where
        the reductions' part of the vector starts."""
        # Python floats at once (the reductions' part, when there is one, may be large)
        numbers = vector.tolist() if not any(self._groups) else vector
        at = 0
        shapes, sizes, dtypes = self._shapes, self._sizes, self._dtypes
        for k in self._kernel:
            low, high, total, nan, positive, negative = numbers[at:at + KERNEL_WIDTH]
            at += KERNEL_WIDTH
            shape = shapes[k]
            if shape is None:  # the kernel gave it: rank, then dimensions
                rank = int(numbers[at])
                shape = tuple(int(n) for n in numbers[at + 1:at + 1 + rank])
                at += 1 + rank
            out[k] = _kernel_summary(low, high, total, nan, positive, negative, shape, dtypes[k], sizes[k])
        return at


def _concat(parts: list[Any], axis: Any) -> Any:
    return parts[0] if len(parts) == 1 else tf.raw_ops.ConcatV2(values=parts, axis=axis)


_shared: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _constants(graph: Any) -> dict[str, Any]:
    """The constants every statistics op of ``graph`` uses, made once per graph."""
    if graph not in _shared:
        with graph.as_default():
            _shared[graph] = {"flat": tf.constant([-1]), "row": tf.constant([1, -1]),
                              "axis": tf.constant(0), "one": tf.constant(1),
                              "axes": tf.constant([0, 1]), "none": tf.constant([1, 0]),
                              "all": tf.constant([1, -1]), "begin": tf.constant([0, 0])}
    return _shared[graph]


def _kernel_summary(low: float, high: float, finite_sum: float, nan: float, positive: float,
                    negative: float, shape: tuple[int, ...], dtype: str, size: int | None = None) -> ValueSummary:
    """A value's statistics from the kernel's numbers (its counts as floats; ``size``:
    the product of ``shape``, when known): the sum over the values that are not NaN is the
    finite values' unless an infinity is among them (both: NaN, as in the writer)."""
    size = math.prod(shape) if size is None else size
    if size and not (nan or positive or negative):  # the common case (no NaN, no Inf), first
        return ValueSummary(shape, dtype, Stats(size, low, high, finite_sum / size))
    nan, positive, negative = int(nan), int(positive), int(negative)
    counted = size - nan
    if size == 0 or counted == 0:
        return ValueSummary(shape, dtype, Stats(size=size, nan_count=nan, inf_count=positive + negative))
    total = (math.nan if positive and negative else math.inf if positive else -math.inf if negative
             else finite_sum)
    return ValueSummary(shape, dtype, Stats(size=size, min=low, max=high, mean=total / counted,
                                            nan_count=nan, inf_count=positive + negative))


def _summary(low: float, high: float, total: float, values: np.ndarray,
             shape: tuple[int, ...], dtype: str) -> ValueSummary:
    """A value's statistics from its min, max and sum, and its values when the sum is
    not finite (the masked statistics then come from them)."""
    size = math.prod(shape)
    nan = inf = 0
    if len(values):
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
