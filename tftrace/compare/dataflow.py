"""Pairing and first divergence for the captured kinds: layers, ops, gradients, optimizer.

Pairing (A's names as they are, B's after the rename rules):

- ``layer``: by layer name (a scope path: "conv1", "model/block/dense"), step, occurrence
  counted from the step's last call (an extra earlier call, such as Keras building a
  layer on zeros, stays unpaired);
- ``op``: by the layer it belongs to, op type, output index, step, and its position among
  the ops of that (layer, type, output) in the step. Op *names* differ between a TF1 graph
  ("conv1/Conv2D") and the same code run eagerly ("slim_net/conv1/conv1/Conv2D"), or in a
  ``tf.function``; the layer path does not. Ops outside any layer pair by op type alone;
- ``gradient``: by variable name (``:0`` ignored), step, occurrence;
- ``optimizer``: by hyperparameter role ("learning_rate", "epsilon"...), step, occurrence.

Events of these kinds present on one side only are not divergences: execution modes run
different helper ops (casts, fused kernels Grappler keeps whole), a Keras model adds an
outer layer, optimizers of different families have different hyperparameters. They are
reported as not paired.

First divergence: the earliest diverged pair in A's recording order, which is the order
the values were computed; for an op, the earliest whose recorded inputs all matched
(an op whose input already differs is downstream of the real one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from tftrace.format.events import CAPTURED_KINDS, EventKind, OpAttrs, OptimizerAttrs
from tftrace.format.rules import RenameRule, renamed
from tftrace.format.schema import Event

#: Pair statuses that count as matched when an op's inputs are checked.
MATCHED = ("equal", "close")
#: Attributes whose difference is the execution mode's, not the program's: fused batch
#: norm's ``exponential_avg_factor`` (TF1 1.0, Keras 1 - momentum) only changes the batch
#: statistics outputs, which are not recorded (the moving averages are variables).
MODE_ATTRIBUTES = frozenset({"exponential_avg_factor"})


@dataclass(frozen=True)
class InputStatus:
    """One input of a diverged op: the A event that recorded it and how it compared."""

    seq_a: int | None
    name: str
    status: str  # a pair status, or "not-recorded" / "not-paired"

    def to_dict(self) -> dict[str, Any]:
        return {"seq_a": self.seq_a, "name": self.name, "status": self.status}


@dataclass(frozen=True)
class AttributeDifference:
    """A non-tensor attribute of an op whose value differs between A and B."""

    attribute: str
    a: Any
    b: Any

    def to_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "a": self.a, "b": self.b}


def op_attrs(event: Event) -> OpAttrs:
    """The typed attrs of an op event (an empty set for any other kind)."""
    attrs = event.attrs
    return attrs if isinstance(attrs, OpAttrs) else _NO_OP_ATTRS


_NO_OP_ATTRS = OpAttrs(present=())


def align_captured(events_a: Sequence[Event], events_b: Sequence[Event], kinds: Sequence[str],
                   rules: Sequence[RenameRule]) -> list[tuple[str, Event | None, Event | None]]:
    """Pairs of the captured kinds (see the module docstring), A's order then B's extras."""
    pairs: list[tuple[str, Event | None, Event | None]] = []
    for kind in CAPTURED_KINDS:
        if kind not in kinds:
            continue
        by_a = _keyed(events_a, kind, lambda name: renamed(name, ()))
        by_b = _keyed(events_b, kind, lambda name: renamed(name, rules))
        pairs.extend((kind, ev, by_b.get(key)) for key, ev in by_a.items())
        pairs.extend((kind, None, ev) for key, ev in by_b.items() if key not in by_a)
    return pairs


def _keyed(events: Sequence[Event], kind: str,
           rename: Callable[[str], str]) -> dict[tuple[Any, ...], Event]:
    """Events by pairing key and occurrence counted from the step's *last* one: a program
    that calls a layer once more before training (Keras builds it on zeros) has its
    training call paired with the other run's, and the extra, earlier call unpaired."""
    by_key: dict[tuple[Any, ...], list[Event]] = {}
    for ev in events:
        if ev.kind == kind:
            by_key.setdefault(pairing_key(ev, rename), []).append(ev)
    out: dict[tuple[Any, ...], Event] = {}
    for base, group in by_key.items():
        for k, ev in enumerate(group):
            out[(*base, len(group) - 1 - k)] = ev
    return dict(sorted(out.items(), key=lambda item: item[1].seq))


def pairing_key(event: Event, rename: Callable[[str], str]) -> tuple[Any, ...]:
    """What must agree for two events of a captured kind to pair (occurrence aside)."""
    attrs = event.attrs
    if isinstance(attrs, OpAttrs):
        return ("op", rename(attrs.layer) if attrs.layer else "", attrs.op_type,
                attrs.output_index or 0, event.step)
    if isinstance(attrs, OptimizerAttrs):
        return ("optimizer", attrs.hyperparameter or event.name, event.step)
    return (str(event.kind), rename(event.name), event.step)


def attribute_differences(a: Event, b: Event) -> tuple[AttributeDifference, ...]:
    """The op attributes whose values differ (keys on one side only included)."""
    attrs_a, attrs_b = dict(op_attrs(a).op_attrs or {}), dict(op_attrs(b).op_attrs or {})
    out = []
    for key in sorted(set(attrs_a) | set(attrs_b)):
        if key not in MODE_ATTRIBUTES and attrs_a.get(key) != attrs_b.get(key):
            out.append(AttributeDifference(key, attrs_a.get(key), attrs_b.get(key)))
    return tuple(out)


def input_statuses(a: Event, status_of_a: Mapping[int, str]) -> tuple[InputStatus, ...]:
    """Each input of A's op: the status of the pair holding the event that recorded it."""
    seqs = op_attrs(a).inputs or ()
    names = op_attrs(a).input_names or ()
    out = []
    for k, seq in enumerate(seqs):
        name = names[k] if k < len(names) else ""
        if seq < 0:
            out.append(InputStatus(None, name, "not-recorded"))
        else:
            out.append(InputStatus(seq, name, status_of_a.get(seq, "not-paired")))
    return tuple(out)


def inputs_matched(inputs: Sequence[InputStatus]) -> bool:
    """No recorded input of the op diverged (unrecorded ones cannot be checked)."""
    return all(i.status in MATCHED or i.status in ("not-recorded",) for i in inputs)


def unpaired_ops_of_layer(events_a: Sequence[Event], events_b: Sequence[Event], layer: str,
                          step: int, unpaired_a: set[int], unpaired_b: set[int],
                          rename: Callable[[str], str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Op types of ``layer`` at ``step`` that one side ran and the other did not."""
    def types(events: Sequence[Event], unpaired: set[int], name_of: Callable[[str], str]) -> tuple[str, ...]:
        out: list[str] = []
        for ev in events:
            if ev.kind is EventKind.OP and ev.step == step and ev.seq in unpaired:
                own = op_attrs(ev).layer
                if own is not None and name_of(own) == layer:
                    kind = op_attrs(ev).op_type or "?"
                    if kind not in out:
                        out.append(kind)
        return tuple(out)
    return types(events_a, unpaired_a, lambda n: n), types(events_b, unpaired_b, rename)


def differing_levels(environment_a: Mapping[str, Any],
                     environment_b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """Streams the two runs captured at different levels, as (stream, A's, B's): events
    one side did not capture then go unpaired."""
    levels_a = environment_a.get("capture_levels")
    levels_b = environment_b.get("capture_levels")
    if not isinstance(levels_a, Mapping) and not isinstance(levels_b, Mapping):
        return []
    levels_a = levels_a if isinstance(levels_a, Mapping) else {}
    levels_b = levels_b if isinstance(levels_b, Mapping) else {}
    return [(stream, levels_a.get(stream, "off"), levels_b.get(stream, "off"))
            for stream in ("layers", "ops", "gradients", "optimizer", "op_scopes", "op_types")
            if levels_a.get(stream) != levels_b.get(stream)]
