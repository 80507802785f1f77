"""The result of a diff: one plain, frozen data structure that every renderer reads.

It holds codes, names and numbers; the sentences (``PairResult.message``,
``DiffResult.notes``) and the JSON report (``to_dict`` / ``to_json``, documented in
``docs/report-schema.md``) are written by report/. Bump ``REPORT_VERSION`` when a key
changes meaning or goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from tftrace.compare.align import RandomGap
from tftrace.compare.dataflow import AttributeDifference, InputStatus
from tftrace.compare.explain.findings import Diagnosis
from tftrace.format.events import CAPTURED_KINDS
from tftrace.compare.metrics import ValueComparison
from tftrace.compare.near_miss import NearMiss
from tftrace.compare.optimizer_state import StateName
from tftrace.compare.tolerance import Tolerance, Tolerances
from tftrace.format.rules import RenameRule

#: 4: the layer, op, gradient and optimizer kinds; a first divergence's layer, attribute
#: differences, inputs and the ops one side ran and the other did not (3: the diagnosis).
REPORT_VERSION = 4

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


@dataclass(frozen=True)
class PairResult:
    """One compared pair of events and what the comparison found.

    ``name`` is A's name (B's for an extra event), ``name_b`` B's original name.
    ``compared_by`` says how values were judged: ``"digest"`` (equal content digests,
    arrays not read), ``"values"`` (read block by block), ``"statistics"`` (values not
    stored in a ``--capture stats`` trace) or ``None`` (not compared). ``skip_reason``
    says why a pair was ``skipped`` (``a-ended``, ``b-ended``, ``stopped``; an initializer
    draw that replay made moot: ``initializer-replaced``, ``initializer-only-in-a``, with
    ``replaced_variable``; optimizer state not compared: ``state-...``, see
    compare/compare_state.py; a layer, op, gradient or optimizer hyperparameter one run
    has and the other has not: ``a-only``, ``b-only``), ``gap_reason`` why the other run
    did not capture it, ``differences`` which attributes or statistics differ, as
    ``(field, A's, B's)``.
    Optimizer state (kind ``optimizer_state``) says what each side's name means
    (``state_a`` / ``state_b``) and ``conversion``, how related quantities were compared
    (``beta_power``, ``negative_lr``; None: the same quantity).

    A first divergence among the captured kinds also says where it sits: ``layer`` (of an
    op or layer), ``attribute_differences`` and ``inputs`` (of an op), ``ops_only_a/b``
    (op types of that layer one side ran and the other did not), ``forward_compared``
    (a gradient or optimizer divergence: forward values that matched before it).
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
    values: ValueComparison | None = None
    tolerance: Tolerance | None = None
    compared_by: str | None = None
    call_site_a: str | None = None
    call_site_b: str | None = None
    skip_reason: str | None = None
    gap_reason: str | None = None
    differences: tuple[tuple[str, Any, Any], ...] = ()
    layer: str | None = None
    attribute_differences: tuple[AttributeDifference, ...] = ()
    inputs: tuple[InputStatus, ...] = ()
    ops_only_a: tuple[str, ...] = ()
    ops_only_b: tuple[str, ...] = ()
    forward_compared: int = 0
    replaced_variable: str | None = None
    state_a: StateName | None = None
    state_b: StateName | None = None
    conversion: str | None = None
    diagnosis: tuple[Diagnosis, ...] = ()  # the first divergence's; others' with diff --all

    @property
    def diverged(self) -> bool:
        return self.status in ("diverged", "missing", "extra")

    @property
    def message(self) -> str:
        """What was found, in one sentence (report/words.py writes it)."""
        from tftrace.report.words import pair_message

        return pair_message(self)

    def to_dict(self) -> dict[str, Any]:
        """This pair in the JSON report (report/json.py)."""
        from tftrace.report.json import pair_document

        return pair_document(self)


@dataclass(frozen=True)
class Note:
    """Something the report notes beside the pairs: a ``code`` (``ends-early``,
    ``cpu-flags``, ``cpu-model``, ``kernel-setting``, ``capture-levels``, ``isolation``: what ``tftrace explain`` re-ran,
    ``pair-diagnoses``: diverging pairs left without a diagnosis) and its facts."""

    code: str
    facts: Mapping[str, Any] = field(default_factory=dict)


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
class PairCounts:
    """The counts of a diff whose ``pairs`` are not all listed (the comparison at the end of
    a recording against a trace, compare/streamed.py, lists the non-equal pairs only, up to
    a cap): what :attr:`DiffResult.summary`, ``compared`` and ``gap_count`` read then.

    ``by_kind``: ``{kind: {status: n, "both": pairs with an event on both sides}}``;
    ``compared``: pairs on both sides whose structure or values were compared; ``total``:
    every pair; ``cap``: the most non-equal pairs listed.
    """

    by_kind: Mapping[str, Mapping[str, int]]
    compared: int
    total: int
    cap: int

    @property
    def gaps(self) -> int:
        return sum(counts.get("gap", 0) for counts in self.by_kind.values())


def tally(pairs: Any) -> dict[str, dict[str, int]]:
    """Pairs counted per kind and status, and per kind those with an event on both sides
    (``"both"``): the summary's numbers."""
    out: dict[str, dict[str, int]] = {}
    for pair in pairs:
        counts = out.setdefault(pair.kind, {})
        counts[pair.status] = counts.get(pair.status, 0) + 1
        if pair.seq_a is not None and pair.seq_b is not None:
            counts["both"] = counts.get("both", 0) + 1
    return out


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
        Every pair, in A's recording order; when ``counts`` is set, only the pairs listed
        (the non-equal ones up to ``counts.cap``), and the counts come from ``counts``.
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
    note_facts: tuple[Note, ...] = field(default_factory=tuple)
    allow_incomplete: bool = False
    #: ``--ignore`` globs, and the events they left out: ``{kind: (in A, in B)}``.
    ignore: tuple[str, ...] = ()
    ignored: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: ``--only`` name globs: only events whose name matches one were compared.
    only_names: tuple[str, ...] = ()
    #: Every divergence is a small value difference: the tolerance that would pass.
    near_miss: NearMiss | None = None
    diagnosis: tuple[Diagnosis, ...] = ()  # close but not equal: round-off and its settings
    #: None: ``pairs`` holds every pair. Else the counts, and ``pairs`` is partial.
    counts: PairCounts | None = None

    @property
    def notes(self) -> tuple[str, ...]:
        """The notes of the report in words: a run that ended early, machine differences."""
        from tftrace.report.words import note_sentence

        return tuple(note_sentence(note) for note in self.note_facts)

    @property
    def complete(self) -> bool:
        """Both traces were recorded to the end (both runs completed)."""
        return self.a.complete and self.b.complete

    @property
    def compared(self) -> int:
        """Pairs present in both traces whose structure or values were compared."""
        if self.counts is not None:
            return self.counts.compared
        return sum(p.seq_a is not None and p.seq_b is not None and p.status != "skipped"
                   for p in self.pairs)

    @property
    def gaps(self) -> tuple[PairResult, ...]:
        """Events of one trace that the other lists as not captured."""
        return tuple(p for p in self.pairs if p.status == "gap")

    @property
    def gap_count(self) -> int:
        """Pairs with status ``gap`` (counted, also when ``pairs`` is partial)."""
        return len(self.gaps) if self.counts is None else self.counts.gaps

    @property
    def pairs_not_listed(self) -> int:
        """Pairs counted in the summary but not in ``pairs`` (0 unless ``counts`` is set)."""
        return 0 if self.counts is None else self.counts.total - len(self.pairs)

    @property
    def verdict(self) -> str:
        """One of ``VERDICTS``: the first that applies."""
        if self.first_divergence is not None:
            return "diverged"
        if not self.complete and not self.allow_incomplete:
            return "incomplete"
        if self.compared == 0:
            return "nothing-compared"
        if self.gap_count:
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
        tallies = tally(self.pairs) if self.counts is None else self.counts.by_kind
        for kind in self.kinds:
            if kind in CAPTURED_KINDS and kind not in tallies:
                continue  # recorded automatically: listed when a trace holds some
            tallied = tallies.get(kind, {})
            counts = {s: tallied.get(s, 0) for s in STATUSES}
            ignored_a, ignored_b = self.ignored.get(kind, (0, 0))
            out.append(KindSummary(kind, compared=tallied.get("both", 0), ignored_a=ignored_a,
                                   ignored_b=ignored_b, **counts))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report as a dict (report/json.py writes it; schema: docs/report-schema.md)."""
        from tftrace.report.json import diff_document

        return diff_document(self)

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
