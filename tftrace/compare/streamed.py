"""``diff`` of two traces read one step at a time: the comparison at the end of a recording
against a trace (tftrace/against.py), whose memory does not grow with the run's length.

Each step's events of A and B, with every variable of both traces (variables pair by name
at any step, and optimizer state is told apart by them), are paired and compared by
``diff``'s own differ (compare/divergence.py) on a view of the two traces holding only
those events: the pairing keys, occurrences, rename rules, tolerances, digest proof and
value and statistics comparisons are ``diff``'s. A variable's pair is kept in the step that
created it (A's, or B's when A has none). Kept across steps: counts per kind and status,
the non-equal pairs up to ``pairs_cap`` (in A's order; the first divergence always), the
first divergence (in dataflow order within its step, the earliest step's across steps),
the near miss, and for the diagnosis the first ``MAX_SERIES_STEPS`` steps of each endpoint
and snapshot name, the random ops of as many steps, and the first divergence's step.

Memory: one step's events of each trace, both traces' variables, the pairs listed (at most
``pairs_cap`` non-equal ones), the series above (``MAX_SERIES_STEPS`` pairs a name), and
the value records a trace wrote after their step had ended (a recording against a trace
writes those once, for the window before its first divergence). Nothing grows with the
number of steps.

Where a stepwise comparison could differ from ``diff``'s pairing of the whole traces, it
is not attempted and ``diff`` runs on them (``fallback`` says why, report/against.py says
so): steps out of order in a log, A incomplete, random ops that do not mark initializer
draws, a step whose random ops differ in type, shape or dtype (``diff`` aligns them as
one sequence across steps), an incomplete B with A's events unpaired before its last
paired one, a diverged op whose input was recorded at an earlier step. The diagnosis reads
the bounded view above, not the whole run.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from tftrace.compare.dataflow import inputs_matched, op_attrs
from tftrace.compare.divergence import BLOCK_BYTES, _Differ, diff
from tftrace.compare.explain.evidence import MAX_SERIES_STEPS
from tftrace.compare.first import first_in_dataflow
from tftrace.compare.machines import run_notes, trace_info
from tftrace.compare.near_miss import near_miss
from tftrace.compare.options import parse_only
from tftrace.compare.steps import by_step, steps, survey
from tftrace.compare.result import DiffResult, PairCounts, PairResult, tally
from tftrace.compare.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, Tolerances
from tftrace.format.events import CAPTURED_KINDS, COMPARED_RULES, EventKind
from tftrace.format.reader import Trace, open_trace
from tftrace.format.rules import parse_rename_rule, random_order, random_token
from tftrace.format.schema import Event

#: The most non-equal pairs listed; the others are counted (``DiffResult.counts``).
PAIRS_CAP = 1000
#: Kinds whose first steps the diagnosis reads as a series (compare/explain/diagnose.py).
SERIES_KINDS = ("endpoint", "snapshot")


@dataclass(frozen=True)
class StreamedDiff:
    """The comparison's result and how it was made: ``fallback`` is None when both traces
    were read one step at a time, else why ``diff`` read them whole; ``held`` is the most
    events held at once (both traces), for the memory bound's test."""

    result: DiffResult
    fallback: str | None
    held: int


class _Fallback(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _StepDiffer(_Differ):
    """``diff``'s differ on one step's view: where B ends is decided across steps."""

    end_b: float | None = None

    def _ends(self, pairs: Any) -> tuple[float | None, float | None]:
        if self.b.complete or self.end_b is None:
            return None, None
        own = max((p.position for p in pairs if p.b is not None), default=-1.0)
        return None, max(self.end_b, own)


class _Streamed:
    def __init__(self, a: Trace, b: Trace, tolerances: Tolerances, rename: tuple[Any, ...],
                 pairs_cap: int) -> None:
        self.a, self.b = a, b
        self.tolerances, self.rename, self.pairs_cap = tolerances, rename, pairs_cap
        self.kinds, _ = parse_only(None)
        self.survey_a, self.survey_b = survey(a), survey(b)
        self.variables = (sorted(self.survey_a.variables.values(), key=lambda e: e.seq),
                          sorted(self.survey_b.variables.values(), key=lambda e: e.seq))
        self.counts: dict[str, dict[str, int]] = {}
        self.compared = self.total = 0
        self.listed: list[PairResult] = []
        self.first: PairResult | None = None
        self.first_key: tuple[int, float, int] | None = None
        self.first_events: tuple[list[Event], list[Event]] = ([], [])
        self.close_events: tuple[list[Event], list[Event]] | None = None
        self.series: dict[tuple[str, str, int], list[tuple[PairResult, tuple[Event | None, ...]]]] = {}
        #: Random ops of the first steps that draw some: the diagnosis looks for draws repeated
        #: from step to step (cached random values).
        self.random_steps: list[tuple[list[Event], list[Event]]] = []
        self.near: list[PairResult] = []  # the diverged pairs that decide the near miss
        self.diverged = 0
        self.no_near_miss = False
        self.all_ratios = True
        self.random_offset = 0
        self.paired_max = -1.0  # A's last event paired with one of B: where an unfinished B ends
        self.unpaired_max = -1.0  # A's last event unpaired before B's last step
        self.last_paired = 0.0  # A's position of B's latest paired event, as diff places B's extras
        self.held = 0

    def run(self) -> DiffResult:
        for name, survey in (("a", self.survey_a), ("b", self.survey_b)):
            if not survey.ordered:
                raise _Fallback(f"steps-out-of-order-{name}")
        if not self.a.complete:
            raise _Fallback("a-incomplete")
        if not (self.survey_a.marks_initializers and self.survey_b.marks_initializers):
            raise _Fallback("random-order-unmarked")
        window: DiffResult | None = None
        for step, group_a, group_b in steps(by_step(self.a, self.survey_a),
                                             by_step(self.b, self.survey_b)):
            window = self._step(step, group_a, group_b)
        if not self.b.complete and self.unpaired_max > self.paired_max:
            raise _Fallback("b-ended-early")
        return self._result(window)

    # -- one step --------------------------------------------------------------------------
    def _view(self, trace: Trace, variables: list[Event], group: list[Event]) -> Trace:
        events = sorted((*variables, *(e for e in group if e.kind is not EventKind.VARIABLE)),
                        key=lambda e: e.seq)
        return trace.view(tuple(events))

    def _step(self, step: int, group_a: list[Event], group_b: list[Event]) -> DiffResult:
        self.held = max(self.held, len(group_a) + len(group_b) + sum(map(len, self.variables)))
        tokens = [[random_token(e) for e in sorted((e for e in group if e.kind is EventKind.RANDOM_OP),
                                                   key=random_order)] for group in (group_a, group_b)]
        if tokens[0] != tokens[1]:
            raise _Fallback("random-ops-differ")
        if tokens[0] and len(self.random_steps) < MAX_SERIES_STEPS:
            self.random_steps.append(([e for e in group_a if e.kind is EventKind.RANDOM_OP],
                                      [e for e in group_b if e.kind is EventKind.RANDOM_OP]))
        view_a = self._view(self.a, self.variables[0], group_a)
        view_b = self._view(self.b, self.variables[1], group_b)
        differ = _StepDiffer(view_a, view_b, self.tolerances, self.rename, self.kinds, False, BLOCK_BYTES)
        differ.end_b = None if step < self.survey_b.last_step else self.paired_max
        window = differ.run()
        for pair in window.pairs:
            if pair.seq_a is not None and pair.seq_b is not None:
                self.paired_max = max(self.paired_max, float(pair.seq_a))
        kept = [p for p in window.pairs if self._own(p, step)]
        self._check_inputs(kept, view_a)
        positions = self._positions(window.pairs, group_b)
        plain = next((p for p in kept if p.diverged and p.kind not in CAPTURED_KINDS), None)
        first = first_in_dataflow(window.pairs, plain, view_a.events, view_b.events, self.rename)
        localized = None if first is None else self._offset(first)
        if localized is not None:
            self._candidate(localized, positions, group_a, group_b)
        if not self.b.complete and step < self.survey_b.last_step:
            self.unpaired_max = max([self.unpaired_max, *(float(p.seq_a) for p in kept
                                                          if p.seq_a is not None and p.seq_b is None)])
        for pair in kept:  # as diff lists them: a captured kind's first divergence unlocalized
            listed_first = self.first is not None and (pair.kind, pair.seq_a, pair.seq_b) == \
                (self.first.kind, self.first.seq_a, self.first.seq_b)
            self._count(localized if pair is first and localized is not None else self._offset(pair),
                        view_a, view_b, (group_a, group_b), listed_first)
        self.random_offset += len(tokens[0])
        return window

    def _own(self, pair: PairResult, step: int) -> bool:
        """A variable's pair belongs to the step that created it (A's, else B's)."""
        if pair.seq_a is not None:
            event = self.survey_a.variables.get(pair.seq_a)
            return event is None or event.step == step
        event = self.survey_b.variables.get(pair.seq_b) if pair.seq_b is not None else None
        return event is None or event.step == step

    def _positions(self, pairs: Iterable[PairResult], group_b: list[Event]) -> dict[int, float]:
        """Where ``diff`` places each of B's events A has no partner for (after the A event
        paired with B's nearest earlier event), across steps."""
        partner = {p.seq_b: float(p.seq_a) for p in pairs if p.seq_a is not None and p.seq_b is not None}
        out: dict[int, float] = {}
        for event in group_b:
            if event.seq in partner:
                self.last_paired = partner[event.seq]
            else:
                out[event.seq] = self.last_paired + 0.5
        return out

    def _offset(self, pair: PairResult) -> PairResult:
        if pair.kind != "random_op" or not self.random_offset:
            return pair
        return dataclasses.replace(
            pair, random_index_a=None if pair.random_index_a is None else pair.random_index_a + self.random_offset,
            random_index_b=None if pair.random_index_b is None else pair.random_index_b + self.random_offset)

    def _check_inputs(self, kept: list[PairResult], view_a: Trace) -> None:
        """An op's input recorded at an earlier step is not in this step's view: its status
        would read ``not-paired`` here, not as ``diff`` has it."""
        recorded = {e.seq: e for e in view_a.events}
        for pair in kept:
            if pair.kind == "op" and pair.diverged and pair.seq_a in recorded:
                if any(seq >= 0 and seq not in recorded
                       for seq in op_attrs(recorded[pair.seq_a]).inputs or ()):
                    raise _Fallback("op-input-earlier-step")

    def _candidate(self, found: PairResult, positions: dict[int, float], group_a: list[Event],
                   group_b: list[Event]) -> None:
        """The step's first divergence becomes the run's if it comes earlier in ``diff``'s
        order than the one held (an op whose inputs did not all match only as a fallback)."""
        qualifies = found.kind != "op" or inputs_matched(found.inputs)
        position = float(found.seq_a) if found.seq_a is not None else \
            positions.get(found.seq_b if found.seq_b is not None else -1, 0.0)
        key = (0 if qualifies else 1, position, found.seq_b if found.seq_b is not None else -1)
        if self.first_key is None or key < self.first_key:
            self.first, self.first_key = found, key
            self.first_events = (list(group_a), list(group_b))

    def _count(self, pair: PairResult, view_a: Trace, view_b: Trace,
               groups: tuple[list[Event], list[Event]], first: bool) -> None:
        counts = self.counts.setdefault(pair.kind, {})
        counts[pair.status] = counts.get(pair.status, 0) + 1
        both = pair.seq_a is not None and pair.seq_b is not None
        counts["both"] = counts.get("both", 0) + both
        self.compared += both and pair.status != "skipped"
        self.total += 1
        if pair.status != "equal" and (len(self.listed) < self.pairs_cap or first):
            self.listed.append(pair)
        if pair.diverged:
            self._near_miss(pair)
        if self.close_events is None and pair.status == "close" and pair.compared_by == "values":
            self.close_events = (list(groups[0]), list(groups[1]))  # the diagnosis of a close run
        if pair.kind in SERIES_KINDS and both:
            series = self.series.setdefault((pair.kind, pair.name, pair.occurrence), [])
            if len(series) < MAX_SERIES_STEPS:
                series.append((pair, (_event(view_a, pair.seq_a), _event(view_b, pair.seq_b))))

    def _near_miss(self, pair: PairResult) -> None:
        """Keep the diverged pairs ``near_miss`` takes its figures from: the first with the
        largest finite relative error, the first with the largest absolute error where the
        relative one is infinite, and the first with the largest norm ratio; count the rest."""
        self.diverged += 1
        if self.no_near_miss:
            return
        if near_miss([pair], 0.0, 0.0) is None:
            self.no_near_miss, self.near = True, []
            return
        values = pair.values
        assert values is not None and values.max_rel_error is not None
        self.all_ratios = self.all_ratios and values.measure == "norm_relative" and \
            values.norm_rel_error is not None and values.limit > 0
        candidates = [*self.near, pair]

        def worst(rows: list[PairResult], measure: Any) -> list[PairResult]:
            return [max(rows, key=measure)] if rows else []

        rel = [p for p in candidates if math.isfinite(_rel(p))]
        infinite = [p for p in candidates if not math.isfinite(_rel(p))]
        keep = worst(rel, _rel) + worst(infinite, _abs)
        if self.all_ratios:
            keep += worst(candidates, _ratio)
        self.near = [p for p in candidates if any(p is k for k in keep)]

    # -- the result ------------------------------------------------------------------------
    def _result(self, window: DiffResult | None) -> DiffResult:
        notes = run_notes(*(trace.view(() if survey.last is None else (survey.last,))
                            for trace, survey in ((self.a, self.survey_a), (self.b, self.survey_b))))
        first = self.first
        summary_near = None
        if self.diverged and not self.no_near_miss:
            found = near_miss(self.near, self.tolerances.default.rtol, self.tolerances.default.atol)
            summary_near = None if found is None else dataclasses.replace(
                found, pairs=self.diverged, floor_ratio=found.floor_ratio if self.all_ratios else None)
        inputs = all(k in self.kinds for k in ("variable", "random_op"))
        listed = tuple(self.listed)
        return DiffResult(
            a=dataclasses.replace(trace_info(self.a), events=self.a.event_count),
            b=dataclasses.replace(trace_info(self.b), events=self.b.event_count),
            tolerances=self.tolerances, kinds=self.kinds, pairs=listed, first_divergence=first,
            broken_stream=COMPARED_RULES[first.kind].stream if first else None,
            inputs_compared=inputs, rename=self.rename,
            suggested_renames=window.suggested_renames if window is not None else (),
            note_facts=tuple(notes), near_miss=summary_near,
            counts=PairCounts(self.counts, self.compared, self.total, self.pairs_cap))


def _rel(pair: PairResult) -> float:
    values = pair.values
    error = values.max_rel_error.error if values and values.max_rel_error else None
    return float(error) if error is not None else 0.0


def _abs(pair: PairResult) -> float:
    values = pair.values
    error = values.max_abs_error.error if values and values.max_abs_error else None
    return float(error) if error is not None else 0.0


def _ratio(pair: PairResult) -> float:
    values = pair.values
    if values is None or values.norm_rel_error is None or not values.limit:
        return 0.0
    return float(values.norm_rel_error / values.limit)


def _event(view: Trace, seq: int | None) -> Event | None:
    return next((e for e in view.events if e.seq == seq), None)


def streamed_diff(a: str | os.PathLike[str], b: str | os.PathLike[str], *,
                  rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                  tolerances: Mapping[str, Any] | Iterable[str] | None = None,
                  rename: Iterable[Any] | None = None, pairs_cap: int = PAIRS_CAP,
                  explain: bool = True) -> StreamedDiff:
    """``diff(a, b)`` with both traces read one step at a time (see the module docstring).

    The verdict, first divergence and counts per kind are ``diff``'s; ``pairs`` lists the
    non-equal pairs only, at most ``pairs_cap`` of them (``result.counts``). Where the
    traces do not allow it, ``diff`` runs on the whole traces and ``fallback`` says why.
    """
    tolerance_rules = Tolerances.build(rtol, atol, tolerances)
    rules = tuple(parse_rename_rule(r) for r in (rename or ()))
    trace_a, trace_b = open_trace(a, load_events=False), open_trace(b, load_events=False)
    try:
        streamed = _Streamed(trace_a, trace_b, tolerance_rules, rules, pairs_cap)
        try:
            result = streamed.run()
        except _Fallback as reason:
            return StreamedDiff(diff(a, b, rtol=rtol, atol=atol, tolerances=tolerances,
                                     rename=rename, explain=explain), reason.code, streamed.held)
        if explain:
            result = _diagnosed(result, streamed)
        return StreamedDiff(result, None, streamed.held)
    finally:
        trace_a.close()
        trace_b.close()


def _diagnosed(result: DiffResult, streamed: _Streamed) -> DiffResult:
    """The diagnosis (compare/explain/), on a bounded view: the variables, the first
    divergence's step (or the first close pair's), the first steps of each series and the
    random ops of the first steps that draw some."""
    from tftrace.compare.explain.diagnose import diagnose_result

    series = [entry for entries in streamed.series.values() for entry in entries]
    events: list[dict[int, Event]] = [dict(), dict()]
    for side, variables in enumerate(streamed.variables):
        events[side].update((e.seq, e) for e in variables)
        around = streamed.first_events if result.first_divergence is not None or \
            streamed.close_events is None else streamed.close_events
        events[side].update((e.seq, e) for e in around[side])
        events[side].update((e.seq, e) for drawn in streamed.random_steps for e in drawn[side])
        events[side].update((e.seq, e) for _, pair_events in series
                            for e in pair_events[side:side + 1] if e is not None)
    views = [trace.view(tuple(sorted(found.values(), key=lambda e: e.seq)))
             for trace, found in zip((streamed.a, streamed.b), events)]
    listed = {id(p) for p in result.pairs}
    pairs = (*result.pairs, *(entry[0] for entry in series if id(entry[0]) not in listed))
    explained = diagnose_result(dataclasses.replace(result, pairs=pairs), views[0], views[1])
    return dataclasses.replace(result, first_divergence=explained.first_divergence,
                               diagnosis=explained.diagnosis, note_facts=explained.note_facts,
                               pairs=tuple(explained.first_divergence or p if p is result.first_divergence
                                           else p for p in result.pairs))
