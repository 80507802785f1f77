"""The element-wise comparison of two stored events, read block by block from their traces.

One function for the local diff and for a cluster's task (compare/distributed.py), so
both compute the same :class:`~tftrace.compare.metrics.ValueComparison`.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from tftrace.compare.metrics import ValueComparison, compare_blocks
from tftrace.compare.tolerance import Tolerance
from tftrace.format.prefetch import prefetched
from tftrace.format.reader import Trace
from tftrace.format.schema import Event


def compare_stored(trace_a: Trace, a: Event, trace_b: Trace, b: Event, tolerance: Tolerance,
                   block_bytes: int) -> ValueComparison:
    """Compare A's and B's stored values of one pair (same shape and dtype, both stored)."""
    assert a.dtype is not None
    return compare_blocks(prefetched(_aligned(trace_a, a, trace_b, b, block_bytes)), a.shape or (),
                          a.dtype, tolerance)


def _aligned(trace_a: Trace, a: Event, trace_b: Trace, b: Event,
             block_bytes: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    for (start_a, block_a), (start_b, block_b) in zip(trace_a.iter_blocks(a, block_bytes),
                                                      trace_b.iter_blocks(b, block_bytes)):
        if start_a != start_b:  # the reader promises equal blocks for equal shapes
            raise AssertionError(f"blocks out of step: {start_a} vs {start_b}")
        yield start_a, block_a, block_b
