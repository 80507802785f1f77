"""Occurrence numbers stay right while the writer forgets the counters of old steps, so a
recording's memory does not grow with its number of steps (format/occurrences.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tftrace.errors import UsageError
from tftrace.format import occurrences
from tftrace.format.reader import open_trace
from tftrace.format.writer import TraceWriter

STEPS = 300
#: Per step: "x" twice, "y" once, "x" a third time.
NAMES = ("x", "y", "x", "x")


def _write(path, steps: int) -> tuple[TraceWriter, list[int]]:
    held = []
    with TraceWriter.create(path, capture="stats") as writer:
        for step in range(steps):
            for name in NAMES:
                writer.add_event("endpoint", name, step=step, value=np.float32(step))
            held.append(len(writer._occurrences))
    return writer, held


def _expected(steps: int) -> list[tuple[str, int, int]]:
    # Written independently of the writer: the k-th "x" of a step is occurrence k.
    out = []
    for step in range(steps):
        seen: dict[str, int] = {}
        for name in NAMES:
            out.append((name, step, seen.get(name, 0)))
            seen[name] = seen.get(name, 0) + 1
    return out


def test_counters_of_old_steps_are_dropped_and_occurrences_stay_right(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(occurrences, "HELD_KEYS", 16)
    _, held = _write(tmp_path / "t.zarr", STEPS)
    trace = open_trace(tmp_path / "t.zarr")
    assert [(e.name, e.step, e.occurrence) for e in trace.events] == _expected(STEPS)
    # Two keys a step: at most the 16 held plus the two newest steps' keys, whatever the length.
    assert max(held) <= 16 + 2 * 2
    assert max(held[STEPS // 2:]) <= max(held[:STEPS // 2])  # no growth in the second half


def test_without_dropping_the_counters_grow_with_the_run(tmp_path) -> None:
    # The negative control: the same run with the limit out of reach holds every step's keys.
    _, held = _write(tmp_path / "t.zarr", STEPS)
    assert held[-1] == 2 * STEPS
    assert [(e.name, e.step, e.occurrence) for e in open_trace(tmp_path / "t.zarr").events] == _expected(STEPS)


def test_an_event_for_a_forgotten_step_is_refused_and_nothing_is_written(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(occurrences, "HELD_KEYS", 4)
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as writer:
        for step in range(10):
            writer.add_event("endpoint", "x", step=step, value=np.float32(step))
            writer.add_event("endpoint", "y", step=step, value=np.float32(step))
        writer.add_event("endpoint", "x", step=8, value=np.float32(8))  # one step back: counted
        with pytest.raises(UsageError, match="at step 3 comes after step 9"):
            writer.add_event("endpoint", "x", step=3, value=np.float32(3))
        last = writer.add_event("endpoint", "z", step=9, value=np.float32(9))
    events = open_trace(tmp_path / "t.zarr").events
    assert [(e.name, e.step, e.occurrence) for e in events[-2:]] == [("x", 8, 1), ("z", 9, 0)]
    assert last.seq == len(events) - 1 == 21
