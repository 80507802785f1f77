"""What the HTML report reads from the traces themselves, when they can be opened.

The result holds errors, not values; a person clicking a pair wants to see the two
arrays. So at render time, and only then, the report reads from both traces: their
environment records, each event's statistics (metadata, no array read), and, for
arrays of at most ``HISTOGRAM_MAX_ELEMENTS`` elements, histograms of A, B and B - A.
At most ``MAX_HISTOGRAMS`` pairs get histograms (the first divergence first, then the
other diverged pairs, then close ones, then the rest, each in A's order), and one
array pair is in memory at a time, so rendering stays bounded whatever the traces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from tftrace.errors import TftraceError
from tftrace.format.reader import Trace, open_trace
from tftrace.format.schema import Event
from tftrace.report.html_data import number

#: Largest array (elements) whose values the report reads for a histogram.
HISTOGRAM_MAX_ELEMENTS = 65_536
#: Pairs with histograms, at most, per report.
MAX_HISTOGRAMS = 500
HISTOGRAM_BINS = 24
_NUMERIC_KINDS = "biuf"  # bool, int, uint, float (bfloat16 reads as a float kind too)

TraceSource = Trace | str | os.PathLike[str]


@dataclass
class TraceExtras:
    """Environment records, per-pair statistics and histograms read from the traces.

    ``stats`` and ``histograms`` are keyed by the pair's position in ``pairs``; a pair's
    ``stats`` are ``[A's, B's]``, each ``[min, max, mean, NaN count, Inf count]`` or None,
    B's ``"same"`` when equal to A's;
    ``problems`` says, per side, why a trace could not be read (empty when both were).
    """

    environments: list[Mapping[str, Any] | None] = field(default_factory=lambda: [None, None])
    stats: dict[int, list[Any]] = field(default_factory=dict)
    histograms: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped_histograms: int = 0
    read: list[bool] = field(default_factory=lambda: [False, False])


def read_extras(document: Mapping[str, Any],
                traces: Sequence[TraceSource | None] | None) -> TraceExtras:
    """Read what the report shows beyond the result from traces A and B.

    ``traces`` are opened traces or paths; ``None`` (or a ``None`` side) means the
    paths the result names. A trace that cannot be opened is a problem the report
    states, never an error: the rest of the report does not need it.
    """
    sources = list(traces) if traces is not None else [None, None]
    extras = TraceExtras()
    opened: list[Trace | None] = []
    try:
        for label, side, source in (("A", "a", sources[0]), ("B", "b", sources[1])):
            opened.append(_open(label, source if source is not None else document[side]["path"],
                                extras))
        trace_a, trace_b = opened
        extras.read = [t is not None for t in opened]
        extras.environments = [t.environment if t is not None else None for t in opened]
        _read_pairs(document, trace_a, trace_b, extras)
    finally:
        for source, trace in zip(sources, opened):
            if trace is not None and not isinstance(source, Trace):
                trace.close()
    return extras


def _open(label: str, source: TraceSource, extras: TraceExtras) -> Trace | None:
    if isinstance(source, Trace):
        return source
    try:
        return open_trace(source)
    except (TftraceError, OSError) as exc:
        extras.problems.append(f"{label}: {exc}")
        return None


def _read_pairs(document: Mapping[str, Any], trace_a: Trace | None, trace_b: Trace | None,
                extras: TraceExtras) -> None:
    by_seq_a = {ev.seq: ev for ev in trace_a.events} if trace_a is not None else {}
    by_seq_b = {ev.seq: ev for ev in trace_b.events} if trace_b is not None else {}
    pairs = document.get("pairs", [])
    candidates: list[tuple[int, int, Event, Event]] = []
    for index, pair in enumerate(pairs):
        ev_a = by_seq_a.get(pair.get("seq_a", -1))
        ev_b = by_seq_b.get(pair.get("seq_b", -1))
        if ev_a is None and ev_b is None:
            continue
        stats_a, stats_b = _stats(ev_a), _stats(ev_b)
        # equal arrays have equal statistics: "same" instead of a second copy
        extras.stats[index] = [stats_a, "same" if stats_b == stats_a and stats_a else stats_b]
        if ev_a is not None and ev_b is not None and _histogram_fits(ev_a, ev_b):
            candidates.append((_priority(pair, document), index, ev_a, ev_b))
    if trace_a is None or trace_b is None:  # no candidates: they need both events
        return
    candidates.sort(key=lambda c: (c[0], c[1]))
    extras.skipped_histograms = max(0, len(candidates) - MAX_HISTOGRAMS)
    for _, index, ev_a, ev_b in candidates[:MAX_HISTOGRAMS]:
        try:
            a = trace_a.array(ev_a)
            b = trace_b.array(ev_b)
        except (TftraceError, OSError) as exc:
            extras.problems.append(f"pair #{index}: {exc}")
            continue
        extras.histograms[index] = histograms(a, b)


def _stats(ev: Event | None) -> list[Any] | None:
    if ev is None or ev.stats is None:
        return None
    s = ev.stats
    return [number(s.min), number(s.max), number(s.mean), s.nan_count, s.inf_count]


def _histogram_fits(a: Event, b: Event) -> bool:
    return (a.stored and b.stored and a.shape == b.shape and a.dtype == b.dtype
            and a.shape is not None and int(np.prod(a.shape)) <= HISTOGRAM_MAX_ELEMENTS
            and a.dtype is not None and not a.dtype.startswith(("complex", "string")))


def _priority(pair: Mapping[str, Any], document: Mapping[str, Any]) -> int:
    first = document.get("first_divergence") or {}
    if all(pair.get(k) == first.get(k) for k in ("kind", "name", "step", "occurrence", "seq_a")):
        return 0
    return {"diverged": 1, "close": 2}.get(pair["status"], 3)


def histograms(a: np.ndarray, b: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Histograms of A and B over one shared range, and of B - A, over finite elements.

    Returns ``{"a": [lo, hi, counts], "b": [lo, hi, counts], "diff": [lo, hi, counts],
    "nonfinite": [A's, B's]}`` (``counts`` has ``bins`` entries; ``diff`` is over the
    positions finite on both sides; a side with no finite element has ``None``).
    """
    fa = np.asarray(a).astype(np.float64).reshape(-1)
    fb = np.asarray(b).astype(np.float64).reshape(-1)
    ok_a, ok_b = np.isfinite(fa), np.isfinite(fb)
    both = np.concatenate([fa[ok_a], fb[ok_b]])
    shared = _range(both)
    both_finite = ok_a & ok_b
    diff = fb[both_finite] - fa[both_finite]
    return {"a": _counts(fa[ok_a], shared, bins), "b": _counts(fb[ok_b], shared, bins),
            "diff": _counts(diff, _range(diff), bins),
            "nonfinite": [int((~ok_a).sum()), int((~ok_b).sum())]}


def _range(values: np.ndarray) -> tuple[float, float] | None:
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:  # one value: one bin around it, wide enough to exist at its magnitude
        pad = max(abs(lo) * 1e-3, 0.5)
        lo, hi = lo - pad, hi + pad
    if not np.isfinite(hi - lo):  # the span overflows float64: no histogram
        return None
    return lo, hi


def _counts(values: np.ndarray, span: tuple[float, float] | None, bins: int) -> list[Any] | None:
    if span is None or values.size == 0:
        return None
    counts, _ = np.histogram(values, bins=bins, range=span)
    return [number(span[0]), number(span[1]), [int(c) for c in counts]]
