"""A diff that fails only by small amounts: the tolerance that would pass, and how it
compares with the noise floor when a calibrated one is known (pure data; the words are
in report/)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

#: Largest element-wise relative error still called "small": beyond 0.1 % a difference
#: is a change of behaviour, not round-off, whatever the tolerance in use.
SMALL_RELATIVE = 1e-3


@dataclass(frozen=True)
class NearMiss:
    """Every divergence is a value difference of at most ``SMALL_RELATIVE``.

    ``rtol`` (with the atol in use) or, where a reference element is zero, ``atol`` (with
    rtol) would pass every diverged pair; ``worst`` is the name needing the most.
    ``floor_ratio``: the worst norm-relative error over its calibrated limit, when the
    diverged pairs were judged by a calibrated (norm-relative) tolerance, else None.
    """

    pairs: int
    rtol: float
    atol: float
    worst: str
    worst_step: int
    floor_ratio: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "rtol": self.rtol, "atol": self.atol, "worst": self.worst,
                "worst_step": self.worst_step, "floor_ratio": self.floor_ratio}


def near_miss(pairs: Sequence[Any], rtol: float, atol: float) -> NearMiss | None:
    """The near miss among diff pairs (``PairResult``), or None when any divergence is
    structural, NaN/Inf, or larger than ``SMALL_RELATIVE``."""
    diverged = [p for p in pairs if p.diverged]
    if not diverged:
        return None
    need_rtol, need_atol, worst, worst_step, worst_rel = rtol, atol, "", 0, -1.0
    ratios: list[float] = []
    for pair in diverged:
        values = pair.values
        if pair.problem != "values" or values is None or values.max_rel_error is None:
            return None
        rel = values.max_rel_error.error
        abs_error = values.max_abs_error.error if values.max_abs_error is not None else 0.0
        if rel is None or abs_error is None or not math.isfinite(abs_error):
            return None
        if math.isfinite(rel):
            if rel > SMALL_RELATIVE:
                return None
            need_rtol = max(need_rtol, rel)
        else:  # a zero in the reference: only atol covers it
            need_atol = max(need_atol, abs_error)
        if (rel if math.isfinite(rel) else abs_error) > worst_rel:
            worst, worst_step, worst_rel = pair.name, pair.step, rel if math.isfinite(rel) else abs_error
        if values.measure == "norm_relative" and values.norm_rel_error is not None and values.limit > 0:
            ratios.append(values.norm_rel_error / values.limit)
    floor_ratio = max(ratios) if ratios and len(ratios) == len(diverged) else None
    return NearMiss(len(diverged), _round_up(need_rtol) if need_rtol > rtol else rtol,
                    _round_up(need_atol) if need_atol > atol else atol, worst, worst_step,
                    floor_ratio)


def _round_up(value: float) -> float:
    """Two significant digits, rounded up (a suggestion that passes, readable)."""
    if value <= 0:
        return value
    exponent = math.floor(math.log10(value)) - 1
    return math.ceil(value / 10 ** exponent - 1e-9) * 10 ** exponent
