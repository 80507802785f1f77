"""Compare run B's events with trace A one by one, as B is recorded (``record --against``).

The verdict of a recording against A is ``diff``'s, computed on the two traces when the
run ends (recording/against.py). This module judges each event the moment it is
recorded, so that the recording knows which values to keep (those that diverge, and a
window before the first divergence) and when to stop: with ``diff``'s pairing keys
(``align.name_key``, ``dataflow.pairing_key``, ``rules.random_order``), its tolerances,
its digest proof, its element-wise comparison and its statistics comparison.

What the order of recording cannot know, this module does not guess: an occurrence is
counted from the step's first event (``diff`` counts a captured kind's from the last
one, which differs only when one run calls a layer more often), and random ops pair by
their place in the random-op order (step, initializers first, seed index), not through
``diff``'s sequence alignment. An event it cannot pair is kept in full, so that the
final ``diff`` has its values.

Memory: A's log is streamed (``Trace.stream_events``), not loaded: the comparison holds
A's events of the step B is recording and those of A's next step read ahead to find
where it starts (so at most two steps of A's records, one event past them), A's
variables (paired by name at any step: as many as the model has), and the keys B has
used in that step; a step's records are dropped when B moves past it. A's values are
read one event at a time, block by block. Nothing grows with the length of the run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np

from tftrace.compare.align import name_key
from tftrace.compare.dataflow import pairing_key
from tftrace.compare.divergence import BLOCK_BYTES
from tftrace.compare.metrics import compare_blocks
from tftrace.compare.measures import stats_differ
from tftrace.compare.tolerance import Tolerances
from tftrace.format import arrays
from tftrace.format.digest import digests_prove_equal
from tftrace.format.events import CAPTURED_KINDS, EventKind
from tftrace.format.events import RULES
from tftrace.format.reader import Trace
from tftrace.format.rules import RenameRule, random_attrs, random_order, random_token, renamed
from tftrace.format.schema import Event

#: Statuses of an online judgment: ``diff``'s pair statuses, and ``unpaired`` (B's event
#: has no partner in A by the keys above).
ONLINE_STATUSES = ("equal", "close", "diverged", "unpaired")


@dataclass(frozen=True)
class OnlineJudgment:
    """How one event of B compared with A when it was recorded.

    ``compared_by``: ``digest``, ``values``, ``statistics`` (A holds no values for it, or
    B's value was computed as statistics only), ``structure`` (shape, dtype or random-op
    type differ) or None (unpaired, or an event without a value).
    """

    status: str
    seq_a: int | None
    compared_by: str | None = None
    #: Close by values but not by statistics: ``diff`` on B's statistics alone would call it
    #: diverged, so B must keep the value for the final diff to compare values.
    needs_value: bool = False

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"


class OnlineComparison:
    """Pairs and compares B's events with trace A's as they come (see the module docstring).

    Parameters
    ----------
    trace_a : Trace
        The reference, open for reading; full or statistics-only.
    tolerances : Tolerances
        As for ``diff``.
    rename : sequence of RenameRule
        Applied to B's names, as for ``diff``.
    block_bytes : int
        Bytes per block read from A's arrays.
    """

    def __init__(self, trace_a: Trace, tolerances: Tolerances, rename: Sequence[RenameRule] = (),
                 block_bytes: int = BLOCK_BYTES) -> None:
        self.trace_a = trace_a
        self.tolerances = tolerances
        self.rename = tuple(rename)
        self.block_bytes = block_bytes
        # Traces that do not mark initializers order random ops by seed alone (as diff does).
        self._split = True
        self._stream = trace_a.stream_events()
        self._ahead: Event | None = None  # A's first event past the steps read
        self._ended = False
        self._step = -1  # B's step the buckets below hold
        #: A's events by pairing key: per step (``_steps[step]``), and the kinds not paired
        #: per step (variables) in ``_global``; each with its occurrence counters of A and B.
        self._steps: dict[int, _Bucket] = {}
        self._global = _Bucket()
        #: Statuses so far, and how they were decided: ``(status, compared_by)`` counts.
        self.counts: Counter[tuple[str, str | None]] = Counter()
        #: Whether A holds values (a full trace) or statistics only: the first event with a
        #: stored value says (a statistics-only A is walked once to its end, one record at a time).
        self.a_has_values = any(isinstance(e, Event) and e.stored for e in trace_a.stream_events())

    def held(self) -> int:
        """A's events held in memory now (for the memory bound's test)."""
        return sum(len(b.events) for b in self._steps.values()) + len(self._global.events) + \
            (self._ahead is not None)

    def judge(self, event: Event, value: Any) -> OnlineJudgment:
        """Pair ``event`` (just written to B, statistics and digest) with A's and compare;
        ``value`` is its value (numpy or scalar), or None when only statistics exist."""
        judgment = self._judge(event, value)
        self.counts[(judgment.status, judgment.compared_by)] += 1
        return judgment

    def summary(self) -> dict[str, Any]:
        """Counts so far, by status and by how they were decided, and A's kind of trace."""
        statuses: Counter[str] = Counter()
        by: Counter[str] = Counter()
        for (status, compared_by), n in self.counts.items():
            statuses[status] += n
            if compared_by is not None:
                by[compared_by] += n
        return {"statuses": dict(statuses), "compared_by": dict(by),
                "a_values": "full" if self.a_has_values else "stats"}

    def _judge(self, b: Event, value: Any) -> OnlineJudgment:
        self._read_to(b.step)
        base = self._base_key(b, self.rename)
        bucket = self._bucket(b, b.step)
        a = bucket.events.get((*base, bucket.seen_b[base])) if bucket is not None else None
        if bucket is not None:
            bucket.seen_b[base] += 1
        if a is None:
            return OnlineJudgment("unpaired", None)
        if b.kind is EventKind.RANDOM_OP and random_token(a)[0] != random_token(b)[0]:
            return OnlineJudgment("diverged", a.seq, "structure")
        if a.shape != b.shape or a.dtype != b.dtype:
            return OnlineJudgment("diverged", a.seq, "structure")
        if a.dtype is None:
            return OnlineJudgment("equal", a.seq)
        if digests_prove_equal(a, b):
            return OnlineJudgment("equal", a.seq, "digest")
        tolerance = self.tolerances.for_name(a.name)
        if not a.stored or value is None:
            differs = stats_differ(a.stats, b.stats, tolerance)
            return OnlineJudgment("diverged" if differs else "close", a.seq, "statistics")
        values = compare_blocks(self._blocks(a, value), a.shape or (), a.dtype, tolerance)
        status = "equal" if values.identical else "close" if values.within_tolerance else "diverged"
        needs_value = status == "close" and bool(stats_differ(a.stats, b.stats, tolerance))
        return OnlineJudgment(status, a.seq, "values", needs_value)

    def _read_to(self, step: int) -> None:
        """Hold A's events up to ``step`` (B's), and drop those of the steps before it."""
        if step > self._step:
            self._step = step
            for old in [s for s in self._steps if s < step]:
                del self._steps[old]
        while not self._ended and (self._ahead is None or self._ahead.step <= step):
            if self._ahead is not None:
                self._add(self._ahead)
                self._ahead = None
            item = next(self._stream, None)
            if item is None:
                self._ended = True
            elif isinstance(item, Event):
                if item.kind is EventKind.RANDOM_OP and random_attrs(item).initializer is None:
                    self._split = False
                if item.step < step and self._per_step(item):
                    continue  # a step B has moved past: its events can no longer pair
                self._ahead = item
            else:  # a value record: the array of an event read earlier, if still held
                self._late_value(item.seq, item.array_key)

    def _add(self, event: Event) -> None:
        bucket = self._steps.setdefault(event.step, _Bucket()) if self._per_step(event) \
            else self._global
        base = self._base_key(event, ())
        bucket.events[(*base, bucket.seen_a[base])] = event
        bucket.seen_a[base] += 1

    def _late_value(self, seq: int, key: str) -> None:
        if self._ahead is not None and self._ahead.seq == seq:
            self._ahead = replace(self._ahead, array_key=key)
            return
        for bucket in (*self._steps.values(), self._global):
            for k, event in bucket.events.items():
                if event.seq == seq:
                    bucket.events[k] = replace(event, array_key=key)
                    return

    def _bucket(self, event: Event, step: int) -> _Bucket | None:
        if not self._per_step(event):
            return self._global
        return self._steps.get(step) if step == self._step else None

    @staticmethod
    def _per_step(event: Event) -> bool:
        return event.kind in CAPTURED_KINDS or event.kind is EventKind.RANDOM_OP \
            or RULES[event.kind].per_step

    def _blocks(self, a: Event, value: Any) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """A's blocks as the reader walks them, each beside the same elements of B's value."""
        flat_b = arrays.as_array(value).reshape(-1)
        for start, block_a in self.trace_a.iter_blocks(a, self.block_bytes):
            yield start, block_a, flat_b[start:start + block_a.size]

    def _base_key(self, event: Event, rules: Sequence[RenameRule]) -> tuple[Any, ...]:
        """``diff``'s pairing key of ``event`` without its occurrence."""
        if event.kind is EventKind.RANDOM_OP:
            split = self._split and random_attrs(event).initializer is not None
            step, stream, index, _ = random_order(event, split)
            return ("random_op", step, stream, index)
        if event.kind in CAPTURED_KINDS:
            return pairing_key(event, lambda name: renamed(name, rules))
        return (str(event.kind), *name_key(event, rules))


@dataclass
class _Bucket:
    """A's events of one step (or of the kinds not paired per step) by pairing key, and
    the occurrences counted so far on each side."""

    events: dict[tuple[Any, ...], Event] = field(default_factory=dict)
    seen_a: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    seen_b: Counter[tuple[Any, ...]] = field(default_factory=Counter)
