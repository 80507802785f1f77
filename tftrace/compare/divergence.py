"""``diff``: align two traces, check structure, then values, and find the first divergence.

Never imports TensorFlow. Arrays are read block by block, and not at all when the
content digests are equal.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

from tftrace.compare.align import Pair, align
from tftrace.compare.dataflow import differing_levels
from tftrace.compare.first import first_in_dataflow
from tftrace.compare.compare_state import converted, not_compared_reason
from tftrace.compare.distributed import run_on_cluster
from tftrace.compare.machines import machine_notes
from tftrace.compare.blocks import compare_stored
from tftrace.compare.metrics import ValueComparison, compare_arrays
from tftrace.compare.near_miss import near_miss
from tftrace.compare.options import parse_ignore, parse_only
from tftrace.compare.result import DiffResult, Note, PairResult, TraceInfo
from tftrace.compare.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance, Tolerances, stats_differ
from tftrace.format.digest import digests_prove_equal
from tftrace.format.events import CAPTURED_KINDS, COMPARED_RULES, OpAttrs, VariableAttrs
from tftrace.format.gaps import Gap, not_captured, read_gaps
from tftrace.format.reader import Trace, open_trace
from tftrace.format.rules import (RENAMED_KINDS, RenameRule, is_initializer, normalize_name,
                                  parse_rename_rule, random_attrs, random_token, renamed)
from tftrace.format.schema import Event

#: Block size for reading arrays: bounds memory (a few blocks alive at once).
BLOCK_BYTES = 8 << 20

TraceLike = Trace | str | os.PathLike[str]


def diff(a: TraceLike, b: TraceLike, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
         tolerances: Mapping[str, Any] | Iterable[str] | None = None,
         rename: Iterable[str | tuple[str, str] | RenameRule] | None = None,
         only: str | Iterable[str] | None = None, stop_at_first: bool = False,
         allow_incomplete: bool = False, block_bytes: int = BLOCK_BYTES,
         tolerances_file: str | os.PathLike[str] | None = None,
         ignore: str | Iterable[str] | None = None, dask: str | None = None,
         explain: bool = True) -> DiffResult:
    """Compare two traces and report where they first diverge.

    Parameters
    ----------
    a, b : Trace or path
        The reference trace (A) and the trace checked against it (B).
    rtol, atol : float
        Default tolerance for floats: ``|a - b| <= atol + rtol * |a|``.
    tolerances : mapping or iterable, optional
        Per-name overrides, ``{"grads/*": (rtol, atol)}`` or ``["grads/*=1e-4,1e-4"]``;
        the last matching glob wins.
    rename : iterable, optional
        Rules applied to B's variable and snapshot names: ``(regex, replacement)``
        pairs or ``"REGEX=REPL"`` strings, in order.
    only : str or iterable, optional
        Kinds to compare among ``variables, random, endpoints, snapshots,
        optimizer-state``, and/or name globs (words with ``*``, ``?`` or ``[``): only
        the events whose name matches one of them are compared.
    stop_at_first : bool
        Stop reading values at the first divergence; later value comparisons are
        ``skipped``. Structure (names, shapes, dtypes) is still checked for all.
    allow_incomplete : bool
        Accept a run that did not complete (raised, interrupted, killed): its events
        are compared up to its end and, with no divergence there, the verdict is
        ``equivalent-prefix`` (``equivalent`` is True) instead of ``incomplete``.
    block_bytes : int
        Bytes per block read from each array.
    ignore : str or iterable of str, optional
        Name globs (``fnmatch``; a variable's name matches with or without ``:0``) of
        events left out of the comparison, in both traces and of every kind; they are
        counted per kind in the summary (``ignored_a`` / ``ignored_b``), never dropped
        silently.
    tolerances_file : path, optional
        A tolerances file (``tftrace calibrate -o``): its per-name tolerances apply first,
        ``tolerances`` after them (the last match wins).
    dask : str, optional
        Spread the value comparisons over a ``dask.distributed`` cluster: a scheduler
        address, or ``"local:N"`` for a local cluster of N worker processes
        (compare/distributed.py; ``pip install 'tftrace[dask]'``). The result is the
        same object a local diff gives.
    explain : bool
        Add the diagnosis (docs/diagnosis.md): how the values at the first divergence
        differ and which migration pitfall it looks like.

    Returns
    -------
    DiffResult

    Raises
    ------
    UsageError
        Invalid tolerance, rename rule or kind.
    TraceNotFoundError, TraceFormatError
        A trace cannot be opened or read.
    """
    tolerance_rules = Tolerances.build(rtol, atol, tolerances)
    if tolerances_file is not None:
        from tftrace.compare.calibrate import load_tolerances

        tolerance_rules = Tolerances(tolerance_rules.default,
                                     load_tolerances(tolerances_file) + tolerance_rules.rules)
    rules = tuple(parse_rename_rule(r) for r in (rename or ()))
    kinds, only_names = parse_only(only)
    ignore_globs = parse_ignore(ignore)
    opened: list[Trace] = []
    try:
        trace_a = a if isinstance(a, Trace) else _open(a, opened)
        trace_b = b if isinstance(b, Trace) else _open(b, opened)
        differ = _Differ(trace_a, trace_b, tolerance_rules, rules, kinds, stop_at_first,
                         block_bytes, allow_incomplete, ignore_globs, only_names)
        result = differ.run() if dask is None else run_on_cluster(differ, dask)
        if explain:  # how the values differ and which pitfall it looks like (compare/explain/)
            from tftrace.compare.explain.diagnose import diagnose_result
            result = diagnose_result(result, trace_a, trace_b)
        return result
    finally:
        for trace in opened:
            trace.close()


def _open(path: str | os.PathLike[str], opened: list[Trace]) -> Trace:
    trace = open_trace(path)
    opened.append(trace)
    return trace


def _info(trace: Trace) -> TraceInfo:
    env = trace.environment
    versions = env.get("versions")
    tf = versions.get("tensorflow") if isinstance(versions, Mapping) else \
        env.get("tensorflow_version", env.get("tensorflow"))
    host = env.get("host")
    replay = env.get("replay")
    status = trace.status
    return TraceInfo(str(trace.path), trace.complete, len(trace.events),
                     tf if isinstance(tf, str) else None, host if isinstance(host, str) else None,
                     replay if isinstance(replay, Mapping) else None, status=status.status,
                     exception_type=status.exception_type, exception_message=status.message,
                     signal=status.signal, not_captured=not_captured(trace))


class _Differ:
    def __init__(self, a: Trace, b: Trace, tolerances: Tolerances, rename: tuple[RenameRule, ...],
                 kinds: tuple[str, ...], stop_at_first: bool, block_bytes: int,
                 allow_incomplete: bool = False, ignore: tuple[str, ...] = (),
                 only_names: tuple[str, ...] = ()) -> None:
        self.ignore = ignore
        self.only_names = only_names
        self.a, self.b = a, b
        self.allow_incomplete = allow_incomplete
        self.tolerances = tolerances
        self.rename = rename
        self.kinds = kinds
        self.stop_at_first = stop_at_first
        self.block_bytes = block_bytes
        self._replayed_variables: list[str] | None = None
        self.remote: Any = None  # diff --dask: compare/distributed.py's DistributedValues

    def run(self) -> DiffResult:
        self.gaps_a = self._gap_index(self.a, ())
        self.gaps_b = self._gap_index(self.b, self.rename)
        alignment = align(self.a.events, self.b.events, self.kinds, self.rename, self.ignore,
                          self.only_names)
        end_a, end_b = self._ends(alignment.pairs)
        if self.remote is not None:  # every value comparison to the cluster, in recording order
            for pair in alignment.pairs:
                if not self._past_end(pair, end_a, end_b) and self._structure(pair) is None:
                    self._submit(pair)
        results: list[PairResult] = []
        first: PairResult | None = None
        for pair in alignment.pairs:
            truncated = self._past_end(pair, end_a, end_b)
            if truncated:
                result = self._result(pair, "skipped", skip_reason=truncated)
            else:
                structure = self._structure(pair)
                if structure is not None:
                    result = structure
                else:
                    if first is not None and self.stop_at_first:
                        result = self._result(pair, "skipped", skip_reason="stopped")
                    else:
                        result = self._values(pair)
            if first is None and result.diverged and result.kind not in CAPTURED_KINDS:
                first = result
                if self.stop_at_first and self.remote is not None:
                    self.remote.cancel_rest()
            results.append(result)
        first = first_in_dataflow(results, first, self.a.events, self.b.events, self.rename)
        notes = []
        for side, trace in (("a", self.a), ("b", self.b)):
            if not trace.complete:
                notes.append(Note("ends-early", {"side": side, "last_seq": trace.events[-1].seq
                                                 if trace.events else None}))
        notes.extend(machine_notes(self.a.environment, self.b.environment))
        levels = differing_levels(self.a.environment, self.b.environment)
        if levels:
            notes.append(Note("capture-levels", {"streams": [list(level) for level in levels]}))
        inputs = all(k in self.kinds for k in ("variable", "random_op"))
        return DiffResult(
            a=_info(self.a), b=_info(self.b), tolerances=self.tolerances, kinds=self.kinds,
            pairs=tuple(results), first_divergence=first,
            broken_stream=COMPARED_RULES[first.kind].stream if first else None, inputs_compared=inputs,
            random_gaps=alignment.random_gaps, rename=self.rename,
            suggested_renames=alignment.suggested_renames,
            stopped_early=self.stop_at_first and first is not None
            and any(r.status == "skipped" for r in results),
            note_facts=tuple(notes), allow_incomplete=self.allow_incomplete, ignore=self.ignore,
            only_names=self.only_names,
            near_miss=None if self.stop_at_first else near_miss(
                results, self.tolerances.default.rtol, self.tolerances.default.atol),
            ignored={k: v for k, v in alignment.ignored.items() if k in self.kinds})

    # -- replay -------------------------------------------------------------------------
    def _replaced_initializer(self, draw: Event) -> str | None:
        """B's variable that took A's initial value under replay and that this initializer
        draw (of A or B) was made for, by the draw's name scope; else None."""
        if not is_initializer(draw):
            return None
        if self._replayed_variables is None:
            self._replayed_variables = sorted(
                (normalize_name(e.name) for e in self.b.events
                 if isinstance(e.attrs, VariableAttrs) and e.attrs.replayed is True),
                key=len, reverse=True)
        scope = random_attrs(draw).name_scope
        if scope is None:
            return None
        return next((name for name in self._replayed_variables
                     if scope == name or scope.startswith(name + "/")), None)

    # -- incomplete traces --------------------------------------------------------------
    def _ends(self, pairs: Sequence[Pair]) -> tuple[float | None, float | None]:
        """Where each incomplete trace stops, as a position in A's order (None: complete)."""
        end_a = end_b = None
        if not self.a.complete:
            end_a = float(self.a.events[-1].seq) if self.a.events else -1.0
        if not self.b.complete:
            end_b = max((p.position for p in pairs if p.b is not None), default=-1.0)
        return end_a, end_b

    def _past_end(self, pair: Pair, end_a: float | None, end_b: float | None) -> str | None:
        if pair.b is None and end_b is not None and pair.position > end_b:
            return "b-ended"
        if pair.a is None and end_a is not None and pair.position > end_a:
            return "a-ended"
        return None

    # -- checks -------------------------------------------------------------------------
    def _result(self, pair: Pair, status: str, **fields: Any) -> PairResult:
        ev = pair.a or pair.b
        assert ev is not None
        a, b = pair.a, pair.b
        state = pair.state
        if state is not None:
            fields.setdefault("state_a", state.state_a)
            fields.setdefault("state_b", state.state_b)
            if state.conversion is not None and state.conversion.code != "not_comparable":
                fields.setdefault("conversion", state.conversion.code)
        return PairResult(
            kind=pair.kind, name=ev.name, status=status,
            name_b=b.name if b is not None else None, step=ev.step, occurrence=ev.occurrence,
            seq_a=a.seq if a else None, seq_b=b.seq if b else None,
            random_index_a=pair.random_index_a, random_index_b=pair.random_index_b,
            shape_a=a.shape if a else None, shape_b=b.shape if b else None,
            dtype_a=a.dtype if a else None, dtype_b=b.dtype if b else None,
            op_type_a=_op_type(a), op_type_b=_op_type(b),
            call_site_a=a.call_site if a else None, call_site_b=b.call_site if b else None,
            **fields)

    def _gap_index(self, trace: Trace, rename: tuple[RenameRule, ...]) -> dict[tuple[str, str], Gap]:
        """A trace's not-captured entries by (kind, name as the other trace names it)."""
        index: dict[tuple[str, str], Gap] = {}
        for gap in read_gaps(trace.environment, str(trace.path)):
            name = renamed(gap.name, rename) if gap.kind in RENAMED_KINDS else gap.name
            index.setdefault((gap.kind, name), gap)
        return index

    def _gap(self, pair: Pair, event: Event, gaps: dict[tuple[str, str], Gap]) -> Gap | None:
        name = renamed(event.name, ()) if pair.kind in RENAMED_KINDS else event.name
        return gaps.get((pair.kind, name))

    def _structure(self, pair: Pair) -> PairResult | None:
        a, b = pair.a, pair.b
        if pair.kind in CAPTURED_KINDS and (a is None or b is None):
            # modes and families run different helper ops and hyperparameters: not a divergence
            return self._result(pair, "skipped", skip_reason="a-only" if b is None else "b-only")
        if pair.state is not None:
            reason = not_compared_reason(pair.state)
            if reason is not None:
                return self._result(pair, "skipped", skip_reason=reason)
            if pair.state.conversion is not None and a is not None and b is not None:
                return None  # the quantities differ in dtype or scale until converted
        if b is None:
            assert a is not None
            replaced = self._replaced_initializer(a) if pair.kind == "random_op" else None
            if replaced is not None:
                return self._result(pair, "skipped", skip_reason="initializer-only-in-a",
                                    replaced_variable=replaced)
            gap = self._gap(pair, a, self.gaps_b)
            if gap is not None:
                return self._result(pair, "gap", problem="not_captured", gap_reason=gap.reason)
            return self._result(pair, "missing", problem="missing")
        if a is None:
            replaced = self._replaced_initializer(b) if pair.kind == "random_op" else None
            if replaced is not None:
                return self._result(pair, "skipped", skip_reason="initializer-replaced",
                                    replaced_variable=replaced)
            gap = self._gap(pair, b, self.gaps_a)
            if gap is not None:
                return self._result(pair, "gap", problem="not_captured", gap_reason=gap.reason)
            return self._result(pair, "extra", problem="extra")
        if pair.kind == "random_op" and random_attrs(b).replayed_from is None:
            replaced = self._replaced_initializer(b)
            if replaced is not None:
                return self._result(pair, "skipped", skip_reason="initializer-replaced",
                                    replaced_variable=replaced)
        if pair.kind == "random_op" and random_token(a)[0] != random_token(b)[0]:
            return self._result(pair, "diverged", problem="op_type")
        if a.shape != b.shape:
            return self._result(pair, "diverged", problem="shape")
        if a.dtype != b.dtype:
            return self._result(pair, "diverged", problem="dtype")
        trainable_a, trainable_b = _trainable(a), _trainable(b)
        if trainable_a is not None and trainable_b is not None and trainable_a != trainable_b:
            return self._result(pair, "diverged", problem="trainable",
                                differences=(("trainable", trainable_a, trainable_b),))
        return None

    def _values(self, pair: Pair) -> PairResult:
        a, b = pair.a, pair.b
        assert a is not None and b is not None
        if pair.state is not None and pair.state.conversion is not None:
            tolerance = self.tolerances.for_name(a.name)
            value_a, value_b = converted(pair.state, a, b, self.a.array, self.b.array)
            values = compare_arrays(value_a, value_b, "float64", tolerance)
            return self._judged(pair, values, tolerance)
        if a.dtype is None:
            return self._result(pair, "equal")
        tolerance = self.tolerances.for_name(a.name)
        if digests_prove_equal(a, b):  # a CRC digest counts only with equal statistics
            return self._result(pair, "equal", tolerance=tolerance, compared_by="digest")
        if not (a.stored and b.stored):
            return self._statistics(pair, tolerance)
        computed = None if self.remote is None else self.remote.result(a.seq, b.seq)
        if computed is None:
            computed = compare_stored(self.a, a, self.b, b, tolerance, self.block_bytes)
        return self._judged(pair, computed, tolerance)

    def _submit(self, pair: Pair) -> None:
        """Send ``pair``'s element-wise comparison to the cluster if :meth:`_values` will need it."""
        a, b = pair.a, pair.b
        if (self.remote is None or a is None or b is None or a.dtype is None or not (a.stored and b.stored)
                or (pair.state is not None and pair.state.conversion is not None)
                or digests_prove_equal(a, b)):
            return
        self.remote.submit(a.seq, b.seq, self.tolerances.for_name(a.name))

    def _judged(self, pair: Pair, values: ValueComparison, tolerance: Tolerance) -> PairResult:
        if values.identical:
            return self._result(pair, "equal", values=values, tolerance=tolerance, compared_by="values")
        if values.within_tolerance:
            return self._result(pair, "close", values=values, tolerance=tolerance, compared_by="values")
        problem = "nan_inf" if values.nan_mismatched or values.inf_mismatched else "values"
        return self._result(pair, "diverged", problem=problem, values=values, tolerance=tolerance,
                            compared_by="values")

    def _statistics(self, pair: Pair, tolerance: Tolerance) -> PairResult:
        a, b = pair.a, pair.b
        assert a is not None and b is not None
        differs = stats_differ(a.stats, b.stats, tolerance)
        if differs:
            return self._result(pair, "diverged", problem="statistics", tolerance=tolerance,
                                compared_by="statistics", differences=differs)
        return self._result(pair, "close", tolerance=tolerance, compared_by="statistics")


def _op_type(ev: Event | None) -> str | None:
    if ev is not None and isinstance(ev.attrs, OpAttrs):
        return ev.attrs.op_type
    return None if ev is None else random_attrs(ev).op_type


def _trainable(ev: Event) -> bool | None:
    return ev.attrs.trainable if isinstance(ev.attrs, VariableAttrs) else None
