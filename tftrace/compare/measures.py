"""Whole-array measures: error relative to the reference's norm, and cosine similarity.

Element-wise tolerances suit most values; quantities that amplify round-off (Adam's
updates of a parameter whose gradient is ~0) move single elements a lot while the
array as a whole stays put. ``norm_relative`` (``||b - a|| / ||a||``) and ``cosine``
(``1 - cos(a, b)``, as Ascend msprobe reports) judge the whole array instead
(compare/tolerance.py's ``MEASURES``). Sums are kept block by block in float64, so
memory stays bounded like the element-wise comparison (compare/metrics.py).
"""

from __future__ import annotations

import math

from typing import Any

import numpy as np

from tftrace.compare.tolerance import Tolerance
from tftrace.format.schema import Stats


class NormSums:
    """Running ``sum (a - b)^2``, ``sum a^2``, ``sum b^2``, ``sum a*b`` over finite pairs."""

    def __init__(self) -> None:
        self.diff_sq = self.a_sq = self.b_sq = self.ab = 0.0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        x = a.astype(np.float64)
        y = b.astype(np.float64)
        finite = np.isfinite(x) & np.isfinite(y)
        if not finite.all():
            x, y = x[finite], y[finite]
        self.diff_sq += float(np.dot(x - y, x - y))
        self.a_sq += float(np.dot(x, x))
        self.b_sq += float(np.dot(y, y))
        self.ab += float(np.dot(x, y))

    def measures(self) -> tuple[float, float]:
        """``(||b - a|| / ||a||, cos(a, b))``: :func:`whole_array_measures` of the sums."""
        return whole_array_measures(self.diff_sq, self.a_sq, self.b_sq, self.ab)


def whole_array_measures(diff_sq: float, a_sq: float, b_sq: float, ab: float
                         ) -> tuple[float, float]:
    """``(||b - a|| / ||a||, cos(a, b))`` from the sums of squares and products.

    An all-zero reference gives 0 when B is all zero too, else infinity; cosine is 1
    for two all-zero arrays and 0 when only one is.
    """
    norm_rel = (diff_sq / a_sq) ** 0.5 if a_sq > 0 else (0.0 if diff_sq == 0 else float("inf"))
    if a_sq > 0 and b_sq > 0:
        cosine = max(-1.0, min(1.0, ab / (a_sq ** 0.5 * b_sq ** 0.5)))
    else:
        cosine = 1.0 if a_sq == b_sq else 0.0
    return norm_rel, cosine


def stats_differ(sa: Stats | None, sb: Stats | None,
                 tolerance: Tolerance) -> tuple[tuple[str, Any, Any], ...]:
    """The statistics that differ: (field, A's, B's); ``("stats", A has them, B has them)``
    when one side has none."""
    if sa is None or sb is None:
        return () if sa == sb else (("stats", sa is not None, sb is not None),)
    out: list[tuple[str, Any, Any]] = []
    for field_name in ("nan_count", "inf_count"):
        if getattr(sa, field_name) != getattr(sb, field_name):
            out.append((field_name, getattr(sa, field_name), getattr(sb, field_name)))
    for field_name in ("min", "max", "mean"):
        x, y = getattr(sa, field_name), getattr(sb, field_name)
        if x is None or y is None:
            if x != y:
                out.append((field_name, x, y))
        elif x != y and not (math.isnan(x) and math.isnan(y)) \
                and not abs(x - y) <= tolerance.atol + tolerance.rtol * abs(x):
            out.append((field_name, x, y))  # NaN on both sides: the NaN counts compare them
    return tuple(out)
