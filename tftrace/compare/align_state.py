"""Pairing optimizer state by role (see :mod:`tftrace.compare.optimizer_state`).

The variable and snapshot events that are optimizer state leave the pairing by name and
pair here: the same role of the same model variable (B's names through the rename
rules), at the same moment (initial value, or snapshot of the same step and occurrence).
A role that one family keeps and the other has no variable for (TF1 keeps no learning
rate; Keras no ``beta1_power``) is not a divergence: with a conversion it pairs with
the related state (``beta1_power`` with Keras' step count), otherwise it is reported as
not compared, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from tftrace.compare.optimizer_state import (OPTIONAL_ROLES, Conversion, StateName, classify,
                                             conversion)
from tftrace.format.events import OPTIMIZER_STATE
from tftrace.format.schema import Event

KIND = OPTIMIZER_STATE
STATE_SOURCE_KINDS = ("variable", "snapshot")


@dataclass(frozen=True)
class StateMatch:
    """Why two state events pair, and how their values compare.

    ``state_a`` / ``state_b``: what each name means (None on an unpaired side);
    ``conversion``: None when both hold the same quantity; ``aux_a`` / ``aux_b``: the
    further event a conversion reads (the power's initial value for ``beta_power``, the
    Keras side's learning rate for ``negative_lr``); ``unpaired``: why an event alone is
    not a divergence (``"only-in-one-family"``), else None.
    """

    state_a: StateName | None
    state_b: StateName | None
    conversion: Conversion | None = None
    aux_a: Event | None = None
    aux_b: Event | None = None
    unpaired: str | None = None


def state_names(events: Iterable[Event]) -> dict[str, StateName]:
    """The optimizer state among a trace's variable and snapshot names (:func:`classify`)."""
    return classify(e.name for e in events if e.kind in STATE_SOURCE_KINDS)


def is_state(event: Event, states: dict[str, StateName]) -> bool:
    return event.kind in STATE_SOURCE_KINDS and event.name in states


def _moment(event: Event) -> tuple[str, int, int]:
    return ("initial", 0, event.occurrence) if event.kind == "variable" else \
        ("snapshot", event.step, event.occurrence)


def _target(state: StateName, rename: Sequence[object]) -> str | None:
    if state.target is None:
        return None
    name = state.target
    for rule in rename:
        name = rule.apply(name)  # type: ignore[attr-defined]
    return name


def pair_state(events_a: Sequence[Event], events_b: Sequence[Event], states_a: dict[str, StateName],
               states_b: dict[str, StateName], rename: Sequence[object] = ()
               ) -> list[tuple[Event | None, Event | None, StateMatch]]:
    """Pair the optimizer-state events of A and B; see the module docstring."""
    leftovers: list[tuple[Event | None, Event | None, StateMatch]] = []

    def index(events: Sequence[Event], states: dict[str, StateName], rules: Sequence[object],
              side: str) -> dict[tuple[str, str | None, tuple[str, int, int]], Event]:
        out: dict[tuple[str, str | None, tuple[str, int, int]], Event] = {}
        for ev in events:
            if is_state(ev, states):
                state = states[ev.name]
                key = (state.role, _target(state, rules), _moment(ev))
                if key in out:  # a second state of the same role: unpaired, never dropped
                    leftovers.append((ev, None, StateMatch(state, None)) if side == "a"
                                     else (None, ev, StateMatch(None, state)))
                else:
                    out[key] = ev
        return out

    by_a = index(events_a, states_a, (), "a")
    by_b = index(events_b, states_b, rename, "b")
    roles_a = {s.role for s in states_a.values()}
    roles_b = {s.role for s in states_b.values()}
    initial_a = {e.name: e for e in events_a if e.kind == "variable"}
    initial_b = {e.name: e for e in events_b if e.kind == "variable"}
    used_b: set[int] = set()
    pairs: list[tuple[Event | None, Event | None, StateMatch]] = []
    for (role, target, moment), a in by_a.items():
        sa = states_a[a.name]
        # The same role, else the related state B keeps instead (beta powers / step count).
        b = by_b.get((role, target, moment))
        if b is None:
            b = _related(role, target, moment, by_b, roles_b)
        if b is not None:
            sb = states_b[b.name]
            used_b.add(b.seq)
            match = _match(sa, sb, conversion(sa, sb), moment, by_a, by_b, initial_a, initial_b)
            pairs.append((a, b, match))
            continue
        unpaired = "only-in-one-family" if role in OPTIONAL_ROLES and role not in roles_b else None
        pairs.append((a, None, StateMatch(sa, None, unpaired=unpaired)))
    for (role, target, moment), b in by_b.items():
        if b.seq in used_b or _used_by_conversion(role, roles_a, roles_b):
            continue
        unpaired = "only-in-one-family" if role in OPTIONAL_ROLES and role not in roles_a else None
        pairs.append((None, b, StateMatch(None, states_b[b.name], unpaired=unpaired)))
    return pairs + leftovers


def _related(role: str, target: str | None, moment: tuple[str, int, int],
             by_b: dict[tuple[str, str | None, tuple[str, int, int]], Event],
             roles_b: set[str]) -> Event | None:
    """B's state that A's role converts to when B keeps no such role."""
    if role in ("beta1_power", "beta2_power") and role not in roles_b:
        return by_b.get(("step", None, moment))
    if role == "step" and "step" not in roles_b:
        return by_b.get(("beta1_power", None, moment))
    return None


def _used_by_conversion(role: str, roles_a: set[str], roles_b: set[str]) -> bool:
    """B's powers pair with A's step count when A keeps no powers (and are not extra)."""
    return role in ("beta1_power", "beta2_power") and role not in roles_a and "step" in roles_a


def _match(sa: StateName, sb: StateName, how: Conversion | None, moment: tuple[str, int, int],
           by_a: dict[tuple[str, str | None, tuple[str, int, int]], Event],
           by_b: dict[tuple[str, str | None, tuple[str, int, int]], Event],
           initial_a: dict[str, Event], initial_b: dict[str, Event]) -> StateMatch:
    if how is None:
        return StateMatch(sa, sb)
    if how.code == "beta_power":
        # beta is the power's initial value (TF1 starts the power at beta).
        aux_a = initial_a.get(sa.name) if sa.role != "step" else None
        aux_b = initial_b.get(sb.name) if sb.role != "step" else None
        if aux_a is None and aux_b is None:
            return StateMatch(sa, sb, Conversion("not_comparable", "no-initial-power"))
        return StateMatch(sa, sb, how, aux_a, aux_b)
    if how.code == "negative_lr":
        keras_a = sa.family != "tf1"
        lr = (by_a if keras_a else by_b).get(("learning_rate", None, moment))
        if lr is None:
            return StateMatch(sa, sb, Conversion("not_comparable", "keras-lr-not-recorded"))
        return StateMatch(sa, sb, how, lr if keras_a else None, None if keras_a else lr)
    return StateMatch(sa, sb, how)
