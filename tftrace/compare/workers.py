"""Diffs of multi-worker recordings: worker k with worker k, or what must agree.

A trace argument names a **worker set** (docs/scale.md) when it holds ``{worker}``
(``run-{worker}.zarr``) or when it does not exist itself but ``run.worker-0.zarr``,
``run.worker-1.zarr``, ... do (what ``tftrace.record("run.zarr")`` writes on each worker).

- **Same layout** (as many workers and replicas on both sides): worker k of A is
  diffed with worker k of B; every value, per-replica ones included, is compared.
- **Another layout** (a single-process run against a multi-worker one, or 2 workers
  against 4): only what must agree is compared. Per-replica values
  (``NAME@replica-R``, recording/distributed.py) whose replicas all hold the same value
  (all-reduced gradients) are compared as ``NAME``; those whose replicas differ (inputs,
  gradients before the all-reduce) cannot be compared with another layout and are left
  out, on both sides, named in :attr:`WorkersResult.per_replica`. Variables and
  snapshots (mirrored: recorded once per worker) are compared as they are. The side with
  more workers has each of its workers diffed against worker 0 of the other.

Never imports TensorFlow. The result holds one :class:`~tftrace.compare.result.DiffResult`
per pair of traces; report/workers.py puts it into words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping, Sequence

from tftrace.compare.result import DiffResult
from tftrace.errors import UsageError
from tftrace.format import remote
from tftrace.format.digest import digests_prove_equal
from tftrace.format.progress import ProgressCallback, Work
from tftrace.format.reader import Trace, open_trace
from tftrace.format.rules import WORKER_FIELD, split_replica, worker_trace_path
from tftrace.format.schema import Event

#: More workers than this in one set is taken for a mistake (a runaway pattern).
MAX_WORKERS = 4096


def worker_paths(path: str | os.PathLike[str]) -> list[str] | None:
    """The traces of the worker set ``path`` names, worker 0 first; None for one trace."""
    text = os.fspath(path)
    if WORKER_FIELD in text:
        paths = list(_existing(lambda k: text.replace(WORKER_FIELD, str(k))))
        if not paths:
            raise UsageError(f"{text}: no worker traces found (expected "
                             f"{text.replace(WORKER_FIELD, '0')} and so on)")
        return paths
    if _exists(text):
        return None
    paths = list(_existing(lambda k: worker_trace_path(text, k)))
    return paths or None


def is_distributed(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a worker set, or one trace recorded under ``tf.distribute``."""
    if worker_paths(path) is not None:
        return True
    with open_trace(path) as trace:
        return _layout(trace) != (1, 1)


@dataclass(frozen=True)
class WorkerPair:
    """The diff of worker ``worker``'s trace with its counterpart."""

    worker: int
    path_a: str
    path_b: str
    result: DiffResult


@dataclass(frozen=True)
class WorkersResult:
    """The diff of two worker sets (or a single trace and a worker set).

    Attributes
    ----------
    mode : str
        ``"paired"`` (worker k with worker k, everything compared) or ``"agree"`` (another
        layout: only values that must agree compared).
    layout_a, layout_b : tuple of int
        (workers, replicas in all) of each side.
    pairs : tuple of WorkerPair
        One per worker, in worker order.
    per_replica : tuple of str
        Names whose values differ per replica, left out in ``agree`` mode.
    """

    mode: str
    layout_a: tuple[int, int]
    layout_b: tuple[int, int]
    pairs: tuple[WorkerPair, ...]
    per_replica: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = field(default=())

    @property
    def equivalent(self) -> bool:
        return bool(self.pairs) and all(p.result.equivalent for p in self.pairs)

    @property
    def first_worker(self) -> int | None:
        """The worker whose first divergence comes first (step, then A's order), else the
        first not equivalent (a run that did not complete, ...); None when all are."""
        found = [(p.result.first_divergence.step, p.result.first_divergence.seq_a or 0, p.worker)
                 for p in self.pairs if p.result.first_divergence is not None]
        if found:
            return min(found)[2]
        return next((p.worker for p in self.pairs if not p.result.equivalent), None)

    def to_dict(self) -> dict[str, Any]:
        from tftrace.report.workers import workers_dict

        return workers_dict(self)


def diff_workers(a: str | os.PathLike[str], b: str | os.PathLike[str], *,
                 progress: ProgressCallback | None = None, **options: Any) -> WorkersResult:
    """Diff two worker sets (module docstring); ``options`` are :func:`~tftrace.diff`'s.

    In ``agree`` mode the per-replica values left out are removed from both sides by kind and name.
    ``progress`` gets the work of all the workers' diffs together (:class:`SetProgress`).
    """
    from tftrace.compare.divergence import diff as diff_pair

    paths_a = worker_paths(a) or [os.fspath(a)]
    paths_b = worker_paths(b) or [os.fspath(b)]
    together = SetProgress(progress, max(len(paths_a), len(paths_b)))

    def diff(k: int, trace_a: Trace, trace_b: Trace) -> DiffResult:
        return diff_pair(trace_a, trace_b, progress=together.of(k), **options)

    with _opened(paths_a) as traces_a, _opened(paths_b) as traces_b:
        layout_a, layout_b = _set_layout(traces_a), _set_layout(traces_b)
        if layout_a == layout_b:  # as many traces on both sides
            pairs = [WorkerPair(k, paths_a[k], paths_b[k], diff(k, traces_a[k], traces_b[k]))
                     for k in range(len(traces_a))]
            return WorkersResult("paired", layout_a, layout_b, tuple(pairs))
        views_a, dropped_a, unchecked_a = _agreeing(traces_a)
        views_b, dropped_b, unchecked_b = _agreeing(traces_b)
        left_out = dropped_a | dropped_b | unchecked_a | unchecked_b
        # left out on both sides, by kind and name (a variable keeps its name's gradient's
        # fate apart): the other side holds them under their plain name
        views_a = [_without(view, left_out) for view in views_a]
        views_b = [_without(view, left_out) for view in views_b]
        many_b = len(views_b) >= len(views_a)
        pairs = []
        for k in range(max(len(views_a), len(views_b))):
            view_a = views_a[0 if many_b else k]
            view_b = views_b[k if many_b else 0]
            pairs.append(WorkerPair(k, paths_a[0 if many_b else k], paths_b[k if many_b else 0],
                                    diff(k, view_a, view_b)))
        return WorkersResult("agree", layout_a, layout_b, tuple(pairs),
                             per_replica=_labels(dropped_a | dropped_b),
                             unchecked=_labels((unchecked_a | unchecked_b) - dropped_a - dropped_b))


class SetProgress:
    """The work of several diffs run one after the other, reported as one.

    Each diff's :class:`~tftrace.format.progress.Work` is added up; a diff not started yet
    counts as the mean of those started (the workers of one run hold about the same
    events), so the totals are exact once the last one has started, and the whole is
    never finished before the last diff is.
    """

    def __init__(self, callback: ProgressCallback | None, diffs: int) -> None:
        self.callback = callback
        self.diffs = diffs
        self._latest: dict[int, Work] = {}

    def of(self, index: int) -> ProgressCallback | None:
        """The callback of diff ``index`` (None when nobody listens)."""
        if self.callback is None:
            return None
        return lambda work: self._report(index, work)

    def _report(self, index: int, work: Work) -> None:
        assert self.callback is not None
        self._latest[index] = work
        known = list(self._latest.values())
        waiting = max(0, self.diffs - len(known))
        done = sum(w.done for w in known)
        bytes_done = sum(w.bytes_done for w in known)
        total = _with_waiting([w.total or 0 for w in known], waiting, done)
        bytes_total = _with_waiting([w.bytes_total or 0 for w in known], waiting, bytes_done)
        self.callback(Work(done, total, bytes_done, bytes_total))


def _with_waiting(totals: list[int], waiting: int, done: int) -> int:
    total = sum(totals) + round(waiting * sum(totals) / len(totals))
    if not waiting or not total:
        return total
    return max(total, done + 1)  # never finished before the last diff


KindName = tuple[str, str]


def _labels(names: set[KindName]) -> tuple[str, ...]:
    """``kind name`` of each, sorted by name."""
    return tuple(f"{kind} {name}" for kind, name in sorted(names, key=lambda kn: (kn[1], kn[0])))


def _without(view: Trace, left_out: set[KindName]) -> Trace:
    return view.view(tuple(e for e in view.events if (str(e.kind), e.name) not in left_out))


def _agreeing(traces: Sequence[Trace]) -> tuple[list[Trace], set[KindName], set[KindName]]:
    """Each worker's trace seen with its mirrored per-replica values under their plain name
    and the others left out: (views, (kind, name) differing per replica, (kind, name)
    with a single replica captured)."""
    groups: dict[tuple[str, str, int, int], list[Event]] = {}
    for trace in traces:
        for event in trace.events:
            base, replica = split_replica(event.name)
            if replica is not None:
                groups.setdefault((str(event.kind), base, event.step, event.occurrence), []).append(event)
    differing: set[KindName] = set()
    single: set[KindName] = set()
    for (kind, base, _, _), events in groups.items():
        if len(events) < 2:
            single.add((kind, base))
        elif not all(digests_prove_equal(events[0], other) for other in events[1:]):
            differing.add((kind, base))
    kept = {(kind, base) for kind, base, _, _ in groups} - differing - single
    views = []
    for trace in traces:
        seen: set[tuple[str, str, int, int]] = set()
        events = []
        for event in trace.events:
            base, replica = split_replica(event.name)
            key = (str(event.kind), base, event.step, event.occurrence)
            if replica is None:
                events.append(event)
            elif key[:2] in kept and key not in seen:
                seen.add(key)  # one replica per worker stands for the mirrored value
                events.append(replace(event, name=base))
        views.append(trace.view(tuple(events)))
    return views, differing, single


def _layout(trace: Trace) -> tuple[int, int]:
    distribution = trace.environment.get("distribution")
    if not isinstance(distribution, Mapping):
        return (1, 1)
    workers = distribution.get("workers")
    replicas = distribution.get("replicas")
    return (workers if isinstance(workers, int) and workers > 0 else 1,
            replicas if isinstance(replicas, int) and replicas > 0 else 1)


def _set_layout(traces: Sequence[Trace]) -> tuple[int, int]:
    """(workers, replicas in all) of a set: its traces' count and the replicas they noted."""
    replicas = max((_layout(t)[1] for t in traces), default=1)
    return (len(traces), max(replicas, len(traces)))


class _opened:
    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths
        self.traces: list[Trace] = []

    def __enter__(self) -> list[Trace]:
        try:
            for path in self.paths:
                self.traces.append(open_trace(path))
        except BaseException:
            self.__exit__()
            raise
        return self.traces

    def __exit__(self, *exc: object) -> None:
        for trace in self.traces:
            trace.close()


def _existing(path_of: Any) -> Iterator[str]:
    for k in range(MAX_WORKERS):
        path = path_of(k)
        if not _exists(path):
            return
        yield path


def _exists(path: str) -> bool:
    return remote.exists(path) if remote.is_url(path) else os.path.exists(remote.local_path(path))
