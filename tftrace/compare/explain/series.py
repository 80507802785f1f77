"""How one name's values move over steps on each side: ``lagged`` and ``stale``.

The series hold each side's value at the steps both sides recorded, in step order
(``None`` where a value could not be read). Values are compared with a tight tolerance:
these relations are exact in the programs that have them (a read before an update, a
value computed once), so anything looser would pair unrelated steps.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: Two values of one name at different steps are "the same value" within this.
SAME_RTOL, SAME_ATOL = 1e-6, 1e-7


def same(x: np.ndarray | None, y: np.ndarray | None) -> bool:
    return (x is not None and y is not None and x.shape == y.shape
            and bool(np.allclose(x, y, rtol=SAME_RTOL, atol=SAME_ATOL, equal_nan=True)))


def frozen(values: Sequence[np.ndarray | None]) -> bool | None:
    """Whether every value equals the first exactly (None: fewer than two values known)."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return None
    return all(v.shape == known[0].shape and np.array_equal(v, known[0], equal_nan=True) for v in known[1:])


def stale(steps: Sequence[int], series_a: Sequence[np.ndarray | None],
          series_b: Sequence[np.ndarray | None]) -> dict[str, Any] | None:
    """One side never changes across the steps where the other does."""
    frozen_a, frozen_b = frozen(series_a), frozen(series_b)
    if frozen_a is None or frozen_b is None or frozen_a == frozen_b:
        return None
    return {"side": "b" if frozen_b else "a", "steps": list(steps)}


def lagged(steps: Sequence[int], series_a: Sequence[np.ndarray | None],
           series_b: Sequence[np.ndarray | None],
           initial_a: np.ndarray | None = None) -> dict[str, Any] | None:
    """B at step k equals A at step k - 1 (lag 1: B reads the value before an update A
    has already made) or at step k + 1 (lag -1), for every step where that step exists,
    while B at step k differs from A at step k somewhere and B does move. At the first
    step, B is also compared with A's initial value (``initial_a``) for lag 1."""
    n = min(len(series_a), len(series_b))
    if n < 2 or frozen(series_b[:n]) is not False:
        return None
    if all(same(series_a[k], series_b[k]) for k in range(n)):
        return None
    for lag in (1, -1):
        shifted = [k for k in range(n) if 0 <= k - lag < n]
        if shifted and all(same(series_b[k], series_a[k - lag]) for k in shifted):
            evidence: dict[str, Any] = {"lag": lag, "steps": [steps[k] for k in shifted]}
            if lag == 1 and initial_a is not None:
                evidence["first_step_equals_initial_value"] = same(series_b[0], initial_a)
            return evidence
    return None
