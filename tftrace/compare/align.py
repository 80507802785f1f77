"""Pairing: which event of the first trace (A) goes with which event of the second (B).

* Variables by name (``:0`` suffix ignored, rename rules applied to B's names) and
  occurrence; snapshots and endpoints by (name, step, occurrence); renames apply to
  variables and snapshots, whose names come from scopes, not to endpoint names the
  user chose (format/rules.py).
* Random ops by their order (step, then seed index, see ``format.rules.random_order``),
  with a sequence alignment of (op type, shape, dtype) so that one extra op in B shows
  up as one extra op, not as every later op differing.
* Layers, ops, gradients and optimizer hyperparameters by their own keys (dataflow.py):
  a layer by its scope path, an op by its layer, type and position, a gradient by its
  variable, an optimizer hyperparameter by its role.
* Optimizer state (variables and snapshots that an optimizer keeps) pairs by role, not
  by name (align_state.py); ``ignore`` globs leave events out, counted per kind, and
  ``only_names`` globs keep only the events they match (options.py).
* When many variable names are unmatched and one prefix difference explains them,
  a rename rule is suggested (renames.py).

Every pair gets a position in A's recording order; events only in B are placed
right after the A event paired with their nearest predecessor in B.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from tftrace.compare.align_state import StateMatch, is_state, pair_state, state_names
from tftrace.compare.dataflow import align_captured
from tftrace.compare.options import is_ignored
from tftrace.compare.renames import suggest_renames
from tftrace.compare.sequence import align_sequences
from tftrace.format.events import OPTIMIZER_STATE, RULES, EventKind
from tftrace.format.rules import (RENAMED_KINDS, RenameRule, marks_initializers, random_attrs,
                                  random_order, random_token, renamed)
from tftrace.format.schema import Event


@dataclass(frozen=True)
class Pair:
    """Two events that should hold the same thing; one side is None when unmatched.

    ``position`` orders pairs by A's recording order; ``random_index_a/b`` are the
    op's positions in each trace's random-op order.
    """

    kind: str
    a: Event | None
    b: Event | None
    position: float
    random_index_a: int | None = None
    random_index_b: int | None = None
    state: StateMatch | None = None


@dataclass(frozen=True)
class RandomGap:
    """A run of random ops present in one trace only.

    ``side`` is the trace that has them ("a" or "b"); ``index`` the random-op index
    of the first one in that trace; ``shifted`` how many paired random ops follow it
    (up to the next gap), each paired ``offset`` positions further along in B.
    """

    side: str
    index: int
    events: tuple[Event, ...]
    shifted: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "index": self.index, "seqs": [e.seq for e in self.events],
                "op_types": [random_attrs(e).op_type for e in self.events],
                "shapes": [list(e.shape or ()) for e in self.events],
                "shifted": self.shifted, "offset": self.offset}


@dataclass(frozen=True)
class Alignment:
    pairs: tuple[Pair, ...]
    random_gaps: tuple[RandomGap, ...]
    suggested_renames: tuple[RenameRule, ...]
    #: Events left out by ``ignore`` globs: ``{kind: (count in A, count in B)}``.
    ignored: Mapping[str, tuple[int, int]] = field(default_factory=dict)


def align(events_a: Sequence[Event], events_b: Sequence[Event], kinds: Sequence[str],
          rename: Sequence[RenameRule] = (), ignore: Sequence[str] = (),
          only_names: Sequence[str] = ()) -> Alignment:
    """Pair the events of two traces; see the module docstring for the rules.

    Events whose name matches an ``ignore`` glob are left out and counted per kind; with
    ``only_names``, only the events whose name matches one of those globs are paired.
    """
    if only_names:
        events_a = [e for e in events_a if is_ignored(e, only_names)]
        events_b = [e for e in events_b if is_ignored(e, only_names)]
    states_a, states_b = state_names(events_a), state_names(events_b)
    ignored: dict[str, tuple[int, int]] = {}
    if ignore:
        counts = Counter((side, OPTIMIZER_STATE if is_state(ev, states) else str(ev.kind))
                         for side, events, states in (("a", events_a, states_a), ("b", events_b, states_b))
                         for ev in events if is_ignored(ev, ignore))
        for kind in dict.fromkeys(k for _, k in counts):
            ignored[kind] = (counts[("a", kind)], counts[("b", kind)])
        events_a = [e for e in events_a if not is_ignored(e, ignore)]
        events_b = [e for e in events_b if not is_ignored(e, ignore)]
    model_a = [e for e in events_a if not is_state(e, states_a)]
    model_b = [e for e in events_b if not is_state(e, states_b)]
    matched: list[tuple[str, Event | None, Event | None, int | None, int | None]] = []
    for kind in (EventKind.VARIABLE, EventKind.SNAPSHOT, EventKind.ENDPOINT):
        if kind in kinds:
            matched.extend((kind, a, b, None, None) for a, b in _by_name(model_a, model_b, kind, rename))
    states: dict[tuple[int | None, int | None], StateMatch] = {}
    if OPTIMIZER_STATE in kinds:
        for a, b, match in pair_state(events_a, events_b, states_a, states_b, rename):
            matched.append((OPTIMIZER_STATE, a, b, None, None))
            states[(a.seq if a else None, b.seq if b else None)] = match
    gaps: tuple[RandomGap, ...] = ()
    if "random_op" in kinds:
        random_pairs, gaps = _random_ops(events_a, events_b)
        matched.extend(("random_op", *p) for p in random_pairs)
    matched.extend((kind, a, b, None, None)
                   for kind, a, b in align_captured(events_a, events_b, kinds, rename))
    suggestions = suggest_renames(model_a, model_b, rename) if "variable" in kinds else ()
    pairs = tuple(replace(p, state=states.get((p.a.seq if p.a else None, p.b.seq if p.b else None)))
                  if p.kind == OPTIMIZER_STATE else p for p in _ordered(matched, events_b))
    return Alignment(pairs, gaps, suggestions, ignored)


def name_key(event: Event, rules: Sequence[RenameRule]) -> tuple[str, int]:
    """What pairs a variable, snapshot or endpoint (occurrence aside): its name (renamed,
    for the kinds rename rules apply to) and its step (0 for a kind not paired per step)."""
    name = renamed(event.name, rules) if event.kind in RENAMED_KINDS else event.name
    return name, (event.step if RULES[event.kind].per_step else 0)


def _by_name(events_a: Sequence[Event], events_b: Sequence[Event], kind: str,
             rename: Sequence[RenameRule]) -> list[tuple[Event | None, Event | None]]:
    def keyed(events: Sequence[Event], rules: Sequence[RenameRule]) -> dict[tuple[str, int, int], Event]:
        seen: Counter[tuple[str, int]] = Counter()
        out: dict[tuple[str, int, int], Event] = {}
        for ev in events:
            if ev.kind != kind:
                continue
            name, step = name_key(ev, rules)
            out[(name, step, seen[(name, step)])] = ev
            seen[(name, step)] += 1
        return out

    by_a = keyed(events_a, ())
    by_b = keyed(events_b, rename)
    pairs: list[tuple[Event | None, Event | None]] = [(ev, by_b.get(k)) for k, ev in by_a.items()]
    pairs.extend((None, ev) for k, ev in by_b.items() if k not in by_a)
    return pairs


def _random_ops(events_a: Sequence[Event], events_b: Sequence[Event]
                ) -> tuple[list[tuple[Event | None, Event | None, int | None, int | None]], tuple[RandomGap, ...]]:
    split = marks_initializers(events_a) and marks_initializers(events_b)
    ops_a = sorted((e for e in events_a if e.kind == "random_op"),
                   key=lambda e: random_order(e, split))
    ops_b = sorted((e for e in events_b if e.kind == "random_op"),
                   key=lambda e: random_order(e, split))
    tokens_a = [random_token(e) for e in ops_a]
    tokens_b = [random_token(e) for e in ops_b]
    pairs: list[tuple[Event | None, Event | None, int | None, int | None]] = []
    if tokens_a == tokens_b:
        return [(a, b, i, i) for i, (a, b) in enumerate(zip(ops_a, ops_b))], ()
    opcodes = align_sequences(tokens_a, tokens_b)
    raw_gaps: list[tuple[int, str, int, tuple[Event, ...]]] = []  # (opcode position, side, index, events)
    for position, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag in ("equal", "replace"):
            # A replace pairs ops positionally: the same slot holds a different op,
            # which the structure check reports as an op type / shape mismatch.
            common = min(i2 - i1, j2 - j1)
            pairs.extend((ops_a[i1 + k], ops_b[j1 + k], i1 + k, j1 + k) for k in range(common))
            i1, j1 = i1 + common, j1 + common
        if i2 > i1:
            pairs.extend((ops_a[i], None, i, None) for i in range(i1, i2))
            raw_gaps.append((position, "a", i1, tuple(ops_a[i1:i2])))
        if j2 > j1:
            pairs.extend((None, ops_b[j], None, j) for j in range(j1, j2))
            raw_gaps.append((position, "b", j1, tuple(ops_b[j1:j2])))
    gaps = []
    for n, (position, side, index, events) in enumerate(raw_gaps):
        stop = raw_gaps[n + 1][0] if n + 1 < len(raw_gaps) else len(opcodes)
        after = [op for op in opcodes[position + 1:stop] if op[0] in ("equal", "replace")]
        shifted = sum(min(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in after)
        offset = (after[0][3] - after[0][1]) if after else 0
        gaps.append(RandomGap(side, index, events, shifted, offset))
    return pairs, tuple(gaps)


def _ordered(matched: list[tuple[str, Event | None, Event | None, int | None, int | None]],
             events_b: Sequence[Event]) -> tuple[Pair, ...]:
    """Give every pair its position in A's recording order, and sort."""
    a_of_b = {b.seq: a.seq for _, a, b, _, _ in matched if a is not None and b is not None}
    position_of_b: dict[int, float] = {}
    last = 0.0  # before any paired event: still after A's first event, which leads
    for ev in events_b:
        if ev.seq in a_of_b:
            last = float(a_of_b[ev.seq])
        else:
            position_of_b[ev.seq] = last + 0.5
    pairs = []
    for kind, a, b, ia, ib in matched:
        position = float(a.seq) if a is not None else position_of_b[b.seq] if b is not None else 0.0
        pairs.append(Pair(kind, a, b, position, ia, ib))
    pairs.sort(key=lambda p: (p.position, p.b.seq if p.b is not None else -1))
    return tuple(pairs)
