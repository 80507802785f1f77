"""Values of paired optimizer state: conversions between related quantities, and why a
state was not compared (pure numpy; see :mod:`tftrace.compare.optimizer_state`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tftrace.compare.align_state import StateMatch
from tftrace.compare.optimizer_state import accumulator_from_keras_momentum, beta_power_from_step
from tftrace.format.schema import Event

#: Why a state pair or an unpaired state was not compared (``Conversion.reason`` or
#: ``StateMatch.unpaired`` -> the report's words).
FAMILY_LABELS = {"tf1": "TF1", "tf_keras": "tf-keras", "keras3": "Keras 3"}
NOT_COMPARED = {
    "tf1-rmsprop-initial": "not compared: TF1 RMSProp starts its mean square at 1.0, Keras at 0",
    "keras-lr-not-recorded": "not compared: Keras keeps momentum as -learning_rate x TF1's "
                             "accumulator, and no learning-rate variable was recorded (a "
                             "schedule; with a schedule the two algorithms differ anyway)",
    "no-initial-power": "not compared: beta is read from the power's initial value, which "
                        "was not recorded",
    "different roles": "not compared: the two states have different roles",
}


def state_not_compared(match: StateMatch) -> str | None:
    """The message for a state pair that is not compared, else None."""
    if match.unpaired is not None:
        state = match.state_a or match.state_b
        assert state is not None
        other = "B" if match.state_a is not None else "A"
        return (f"not compared: {state.role} of the {FAMILY_LABELS.get(state.family, state.family)} "
                f"optimizer; {other}'s optimizer family keeps no variable for it")
    if match.conversion is not None and match.conversion.code == "not_comparable":
        return NOT_COMPARED.get(match.conversion.reason, "not compared: " + match.conversion.reason)
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
