"""Values of paired optimizer state: conversions between related quantities, and why a
state was not compared (pure numpy; see :mod:`tftrace.compare.optimizer_state`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tftrace.compare.align_state import StateMatch
from tftrace.compare.optimizer_state import accumulator_from_keras_momentum, beta_power_from_step
from tftrace.format.schema import Event

def not_compared_reason(match: StateMatch) -> str | None:
    """Why a state pair or an unpaired state is not compared (a ``skip_reason`` code that
    report/words.py words), else None: ``state-only-in-one-family`` (the other family keeps
    no variable for that role) or ``state-`` and the conversion's reason
    (``tf1-rmsprop-initial``, ``keras-lr-not-recorded``, ``no-initial-power``,
    ``different-roles``)."""
    if match.unpaired is not None:
        return "state-" + match.unpaired
    if match.conversion is not None and match.conversion.code == "not_comparable":
        return "state-" + match.conversion.reason
    return None


def converted(match: StateMatch, a: Event, b: Event, read_a: Callable[[Event], Any],
              read_b: Callable[[Event], Any]) -> tuple[np.ndarray, np.ndarray]:
    """A's and B's values in the same quantity (TF1's: ``beta_power``, accumulator)."""
    assert match.conversion is not None and match.state_a is not None and match.state_b is not None
    value_a = np.asarray(read_a(a), dtype=np.float64)
    value_b = np.asarray(read_b(b), dtype=np.float64)
    if match.conversion.code == "beta_power":
        if match.state_a.role == "step":  # B keeps the power; A counts steps
            assert match.aux_b is not None
            beta = float(np.asarray(read_b(match.aux_b)))
            return beta_power_from_step(value_a, beta), value_b
        initial = read_a(match.aux_a) if match.aux_a is not None else read_b(match.aux_b)  # type: ignore[arg-type]
        return value_a, beta_power_from_step(value_b, float(np.asarray(initial)))
    if match.conversion.code == "negative_lr":
        if match.aux_a is not None:  # A is Keras
            rate = float(np.asarray(read_a(match.aux_a)))
            return accumulator_from_keras_momentum(value_a, rate), value_b
        assert match.aux_b is not None
        rate = float(np.asarray(read_b(match.aux_b)))
        return value_a, accumulator_from_keras_momentum(value_b, rate)
    raise ValueError(f"unknown conversion {match.conversion.code!r}")
