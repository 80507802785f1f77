"""The host call of a graph's statistics vector (observers.py): its events written in
batches, one writer call per run of prepared events, instead of one call per value.

At level ``stats`` a ``tf.function``'s statistics reach Python as one vector per graph
execution: a MobileNetV2 training step gives thousands of op events at once. Per value,
the per-event path makes a :class:`~tftrace.format.schema.ValueSummary`, calls its
observation's ``on_value``, the prepared emitter, the writer (its lock, its checks) and
packs the record. In the common case (the kernel computed every statistic, of values of
known shapes, none holding a NaN or an Inf: ``GraphStatistics.common``) and once every
event was prepared (at a first execution, on the per-event path), the events whose
``on_value`` is a :class:`PreparedOnValue` are written by runs
(:class:`~tftrace.recording.emitting.PreparedBatch`): one lock, the checks once, and per
event only its record spliced. The records are the bytes the per-event path writes, with
the same seqs, occurrences, order and input edges (an input produced in the same run
gets its producer's seq from its position). Anything else, or a run that cannot be
written so, takes the per-event path: each value's summary to its ``on_value``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tftrace.format.prepared import PreparedEvent
from tftrace.format.schema import Stats, ValueSummary
from tftrace.recording.emitting import PreparedBatch, PreparedEmitter
from tftrace.recording.sink import PreparedEmit
from tftrace.recording.summaries import GraphStatistics

#: False: every vector takes the per-event path (tests compare the two).
BATCHED = True


class PreparedOnValue:
    """The ``on_value`` of an event prepared once (``emit``, :meth:`EventSink.prepare`):
    its per-execution field read from the ``inputs`` cells (each holds the seq of the
    event that recorded an op's input, -1 for none), its seq kept in the ``latest`` cell.
    Called, it writes the event on its own; a batch reads its parts instead."""

    __slots__ = ("emit", "inputs", "latest")

    def __init__(self, emit: PreparedEmit, inputs: list[list[int]] | None = None,
                 latest: list[int] | None = None) -> None:
        self.emit = emit
        self.inputs = inputs
        self.latest = latest

    def __call__(self, value: Any) -> None:
        seq = self.emit(value, None if self.inputs is None else [cell[0] for cell in self.inputs])
        if seq is not None and self.latest is not None:
            self.latest[0] = seq


class _Run:
    """Consecutive events of the vector (``start`` to ``stop``) written in one batch."""

    __slots__ = ("start", "stop", "batch", "_inputs", "_latest")

    def __init__(self, start: int, on_values: Sequence[PreparedOnValue], batch: PreparedBatch) -> None:
        self.start, self.stop, self.batch = start, start + len(on_values), batch
        # per event, per input: the position in the run of the event that last keeps the
        # input's cell before this one (its seq is the run's first plus that), else -1 (the
        # cell holds it)
        kept: dict[int, int] = {}
        self._inputs: list[list[tuple[int, list[int]]] | None] = []
        for k, on_value in enumerate(on_values):
            cells = on_value.inputs
            self._inputs.append(None if cells is None else [(kept.get(id(c), -1), c) for c in cells])
            if on_value.latest is not None:
                kept[id(on_value.latest)] = k
        self._latest = [(k, o.latest) for k, o in enumerate(on_values) if o.latest is not None]

    def values(self, seq: int) -> list[list[int] | None]:
        """Each event's per-execution field, the run's first event having ``seq``."""
        return [None if inputs is None else [seq + k if k >= 0 else cell[0] for k, cell in inputs]
                for inputs in self._inputs]

    def written(self, seq: int) -> None:
        """Keep each event's seq in its cell, as its ``on_value`` would."""
        for k, cell in self._latest:
            cell[0] = seq + k


class StatisticsDelivery:
    """The host call of a graph's statistics vector: each value's statistics written as
    its observation's event, in program order, by runs where it can (module docstring)."""

    def __init__(self, grouped: GraphStatistics, on_values: Sequence[Callable[[Any], object]]) -> None:
        self._grouped = grouped
        self._on_values = list(on_values)
        self._plan: list[_Run | int] | None = None

    def __call__(self, vector: np.ndarray) -> None:
        common = self._grouped.common(vector) if BATCHED else None
        if common is None or not self._batched(*common):
            for on_value, summary in zip(self._on_values, self._grouped.split(vector)):
                on_value(summary)

    def _batched(self, lows: list[float], highs: list[float], means: list[float]) -> bool:
        plan = self._plan if self._plan is not None else self._planned()
        if plan is None:
            return False
        for part in plan:
            if type(part) is int:  # an event of its own
                self._single(part, lows, highs, means)
                continue
            assert isinstance(part, _Run)
            start, stop = part.start, part.stop
            seq = part.batch(lows[start:stop], highs[start:stop], means[start:stop], part.values)
            if seq is None:
                for k in range(start, stop):
                    self._single(k, lows, highs, means)
            else:
                part.written(seq)
        return True

    def _single(self, k: int, lows: list[float], highs: list[float], means: list[float]) -> None:
        shape, dtype, size = self._grouped.layouts[k]
        assert shape is not None and size is not None
        self._on_values[k](ValueSummary(shape, dtype, Stats(size, lows[k], highs[k], means[k])))

    def _planned(self) -> list[_Run | int] | None:
        """The runs and the events of their own, once every prepared emitter was prepared
        (by a first execution, on the per-event path); None until then."""
        parts: list[_Run | int] = []
        run: list[tuple[int, PreparedOnValue, PreparedEmitter, PreparedEvent]] = []
        for k, (on_value, layout) in enumerate(zip(self._on_values, self._grouped.layouts)):
            if not isinstance(on_value, PreparedOnValue) or not isinstance(on_value.emit, PreparedEmitter):
                member = None
            elif not on_value.emit.prepared:
                return None
            else:
                member = _ready(k, on_value, on_value.emit, *layout)
            if member is None or (run and not PreparedBatch.shared([run[0][2], member[2]])):
                parts += _as_run(run)
                run = []
            if member is None:
                parts.append(k)
            else:
                run.append(member)
        parts += _as_run(run)
        self._plan = parts
        return parts


def _ready(k: int, on_value: PreparedOnValue, emitter: PreparedEmitter, shape: tuple[int, ...] | None,
           dtype: str, size: int | None) -> tuple[int, PreparedOnValue, PreparedEmitter, PreparedEvent] | None:
    """The ``k``-th event as a member of a run, when its emitter is ready for its value."""
    if shape is None or size is None:
        return None
    prepared = emitter.ready_for(shape, dtype, size, None if on_value.inputs is None else [-1] * len(on_value.inputs))
    return None if prepared is None else (k, on_value, emitter, prepared)


def _as_run(run: list[tuple[int, PreparedOnValue, PreparedEmitter, PreparedEvent]]) -> list[_Run | int]:
    if not run:
        return []
    return [_Run(run[0][0], [o for _, o, _, _ in run],
                 PreparedBatch([e for _, _, e, _ in run], [p for _, _, _, p in run]))]
