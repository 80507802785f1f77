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

Memory: A's event records are held as the reader holds them (no values); A's values are
read one event at a time, block by block; nothing grows with the run but the counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
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
from tftrace.format.reader import Trace
from tftrace.format.rules import (RenameRule, marks_initializers, random_attrs, random_order,
                                  random_token, renamed)
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
        self._split = marks_initializers(trace_a.events)
        self._by_key: dict[tuple[Any, ...], Event] = {}
        seen: Counter[tuple[Any, ...]] = Counter()
        for event in trace_a.events:
            base = self._base_key(event, ())
            self._by_key[(*base, seen[base])] = event
            seen[base] += 1
        self._seen_b: Counter[tuple[Any, ...]] = Counter()
        #: Statuses so far, and how they were decided: ``(status, compared_by)`` counts.
        self.counts: Counter[tuple[str, str | None]] = Counter()
        #: Whether A holds values (a full trace) or statistics only.
        self.a_has_values = any(e.stored for e in trace_a.events)

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
        base = self._base_key(b, self.rename)
        a = self._by_key.get((*base, self._seen_b[base]))
        self._seen_b[base] += 1
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
