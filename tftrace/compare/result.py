"""The result of a diff: one plain, frozen data structure that every renderer reads.

Its dict form (``to_dict`` / ``to_json``) is the JSON report, documented in
``docs/report-schema.md``; bump ``REPORT_VERSION`` when a key changes meaning or goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from tftrace.compare.align import RandomGap, RenameRule
from tftrace.compare.metrics import ValueComparison
from tftrace.compare.near_miss import NearMiss
from tftrace.compare.tolerance import Tolerance, Tolerances

REPORT_VERSION = 2

#: Verdicts, most important first: why a diff is or is not a pass. Only ``equivalent``
#: and ``equivalent-prefix`` (asked for with ``allow_incomplete``) exit 0.
VERDICTS = ("diverged", "incomplete", "nothing-compared", "capture-gap", "equivalent-prefix",
            "equivalent")

#: Pair statuses. equal: every element equal (or equal digests); close: within
#: tolerance but not equal; diverged: structure or values differ; missing: in A only;
#: extra: in B only; skipped: not compared (``stop_at_first``, or past the end of an
#: incomplete trace); gap: in one trace only, and the other lists it as not captured.
STATUSES = ("equal", "close", "diverged", "missing", "extra", "skipped", "gap")
#: What differs in a diverged pair.
PROBLEMS = ("shape", "dtype", "trainable", "op_type", "values", "nan_inf", "statistics",
            "missing", "extra", "not_captured")
#: Streams, in the words of the report.
STREAMS = {"variable": "variables", "random_op": "random", "endpoint": "computation",
           "snapshot": "computation", "optimizer_state": "optimizer"}
KIND_LABELS = {"variable": "variables", "random_op": "random ops", "endpoint": "endpoints",
               "snapshot": "snapshots", "optimizer_state": "optimizer state"}


@dataclass(frozen=True)
class PairResult:
    """One compared pair of events and what the comparison found.

    ``name`` is A's name (B's for an extra event), ``name_b`` B's original name.
    ``compared_by`` says how values were judged: ``"digest"`` (equal content digests,
    arrays not read), ``"values"`` (read block by block), ``"statistics"`` (values not
    stored in a ``--capture stats`` trace) or ``None`` (not compared).
    """

    kind: str
    name: str
    status: str
    name_b: str | None = None
    step: int = 0
    occurrence: int = 0
    seq_a: int | None = None
    seq_b: int | None = None
    random_index_a: int | None = None
    random_index_b: int | None = None
    shape_a: tuple[int, ...] | None = None
    shape_b: tuple[int, ...] | None = None
    dtype_a: str | None = None
    dtype_b: str | None = None
    op_type_a: str | None = None
    op_type_b: str | None = None
    problem: str | None = None
    message: str = ""
    values: ValueComparison | None = None
    tolerance: Tolerance | None = None
    compared_by: str | None = None
    call_site_a: str | None = None
    call_site_b: str | None = None

    @property
    def diverged(self) -> bool:
        return self.status in ("diverged", "missing", "extra")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "name_b": self.name_b, "status": self.status,
            "problem": self.problem, "message": self.message, "step": self.step,
            "occurrence": self.occurrence, "seq_a": self.seq_a, "seq_b": self.seq_b,
            "random_index_a": self.random_index_a, "random_index_b": self.random_index_b,
            "shape_a": _shape(self.shape_a), "shape_b": _shape(self.shape_b),
            "dtype_a": self.dtype_a, "dtype_b": self.dtype_b,
            "op_type_a": self.op_type_a, "op_type_b": self.op_type_b,
            "compared_by": self.compared_by,
            "tolerance": self.tolerance.to_dict() if self.tolerance else None,
            "values": self.values.to_dict() if self.values else None,
            "call_site_a": self.call_site_a, "call_site_b": self.call_site_b,
        }


def _shape(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)


@dataclass(frozen=True)
class TraceInfo:
    """What the report says about each trace."""

    path: str
    complete: bool
    events: int
    tensorflow: str | None = None
    host: str | None = None
    replay: Mapping[str, Any] | None = None
    status: str = "completed"
    exception_type: str | None = None
    exception_message: str | None = None
    signal: str | None = None
    not_captured: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "complete": self.complete, "events": self.events,
                "tensorflow": self.tensorflow, "host": self.host,
                "replay": dict(self.replay) if self.replay is not None else None,
                "status": self.status, "exception_type": self.exception_type,
                "exception_message": self.exception_message, "signal": self.signal,
                "not_captured": [dict(n) for n in self.not_captured]}


@dataclass(frozen=True)
class KindSummary:
    """Counts per status for one kind (``compared`` = pairs present on both sides)."""

    kind: str
    compared: int = 0
    equal: int = 0
    close: int = 0
    diverged: int = 0
    missing: int = 0
    extra: int = 0
    skipped: int = 0
    gap: int = 0
    ignored_a: int = 0
    ignored_b: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "compared": self.compared, "equal": self.equal,
                "close": self.close, "diverged": self.diverged, "missing": self.missing,
                "extra": self.extra, "skipped": self.skipped, "gap": self.gap,
                "ignored_a": self.ignored_a, "ignored_b": self.ignored_b}


@dataclass(frozen=True)
class DiffResult:
    """Everything ``tftrace diff`` found; renderers read only this.

    Attributes
    ----------
    first_divergence : PairResult or None
        The earliest diverged, missing or extra pair in A's recording order.
    broken_stream : str or None
        ``"variables"`` (initial values), ``"random"`` (random values) or
        ``"computation"`` (an endpoint or snapshot whose recorded inputs matched).
    pairs : tuple of PairResult
        Every pair, in A's recording order.
    """

    a: TraceInfo
    b: TraceInfo
    tolerances: Tolerances
    kinds: tuple[str, ...]
    pairs: tuple[PairResult, ...]
    first_divergence: PairResult | None
    broken_stream: str | None
    inputs_compared: bool
    random_gaps: tuple[RandomGap, ...] = ()
    rename: tuple[RenameRule, ...] = ()
    suggested_renames: tuple[RenameRule, ...] = ()
    stopped_early: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    allow_incomplete: bool = False
    #: ``--ignore`` globs, and the events they left out: ``{kind: (in A, in B)}``.
    ignore: tuple[str, ...] = ()
    ignored: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: ``--only`` name globs: only events whose name matches one were compared.
    only_names: tuple[str, ...] = ()
    #: Every divergence is a small value difference: the tolerance that would pass.
    near_miss: NearMiss | None = None

    @property
    def complete(self) -> bool:
        """Both traces were recorded to the end (both runs completed)."""
        return self.a.complete and self.b.complete

    @property
    def compared(self) -> int:
        """Pairs present in both traces whose structure or values were compared."""
        return sum(p.seq_a is not None and p.seq_b is not None and p.status != "skipped"
                   for p in self.pairs)

    @property
    def gaps(self) -> tuple[PairResult, ...]:
        """Events of one trace that the other lists as not captured."""
        return tuple(p for p in self.pairs if p.status == "gap")

    @property
    def verdict(self) -> str:
        """One of ``VERDICTS``: the first that applies."""
        if self.first_divergence is not None:
            return "diverged"
        if not self.complete and not self.allow_incomplete:
            return "incomplete"
        if self.compared == 0:
            return "nothing-compared"
        if self.gaps:
            return "capture-gap"
        return "equivalent" if self.complete else "equivalent-prefix"

    @property
    def equivalent(self) -> bool:
        """No divergence, something compared, nothing left uncaptured, and both runs
        completed (or ``allow_incomplete``: equal up to the end of an unfinished run)."""
        return self.verdict in ("equivalent", "equivalent-prefix")

    @property
    def summary(self) -> tuple[KindSummary, ...]:
        out = []
        for kind in self.kinds:
            counts = {s: 0 for s in STATUSES}
            compared = 0
            for pair in self.pairs:
                if pair.kind == kind:
                    counts[pair.status] += 1
                    compared += pair.seq_a is not None and pair.seq_b is not None
            ignored_a, ignored_b = self.ignored.get(kind, (0, 0))
            out.append(KindSummary(kind, compared=compared, ignored_a=ignored_a,
                                   ignored_b=ignored_b, **counts))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "equivalent": self.equivalent,
            "verdict": self.verdict,
            "complete": self.complete,
            "allow_incomplete": self.allow_incomplete,
            "compared": self.compared,
            "a": self.a.to_dict(), "b": self.b.to_dict(),
            "tolerance": self.tolerances.to_dict(),
            "kinds": list(self.kinds),
            "rename": [r.to_dict() for r in self.rename],
            "suggested_renames": [r.to_dict() for r in self.suggested_renames],
            "first_divergence": self.first_divergence.to_dict() if self.first_divergence else None,
            "broken_stream": self.broken_stream,
            "inputs_compared": self.inputs_compared,
            "random_gaps": [g.to_dict() for g in self.random_gaps],
            "stopped_early": self.stopped_early,
            "notes": list(self.notes),
            "ignore": list(self.ignore),
            "only_names": list(self.only_names),
            "near_miss": self.near_miss.to_dict() if self.near_miss else None,
            "summary": [s.to_dict() for s in self.summary],
            "pairs": [p.to_dict() for p in self.pairs],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON report (schema: docs/report-schema.md)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_html(self, traces: Any = None) -> str:
        """The HTML report: one self-contained page (docs/diff.md, "The HTML report").

        ``traces`` (A, B), opened or paths, default the paths in ``a`` and ``b``: read
        for the environments, per-pair statistics and small-array histograms.
        """
        from tftrace.report.html import render_html  # report/ holds the wording

        return render_html(self, traces=traces)
