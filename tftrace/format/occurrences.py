"""Occurrence numbers of a trace's events, counted as they are written: an event's
occurrence is how many events of the same kind and name its step already holds.

A recording's steps only go forward (``next_step``), so the counters of steps before
the one before the newest are never needed again. Once more than ``HELD_KEYS`` counters
are held, they are dropped when a newer step begins: what a recording holds for this is
bounded by the events of its two newest steps (or ``HELD_KEYS``), not by its length
(it grew by about 105 bytes an event, 3.7 MB for the 35 200 events of a 3200-step run).
An event for a step whose counters were dropped cannot be numbered: it is refused
(``UsageError``) before anything is written.
"""

from __future__ import annotations

from typing import Sequence

from tftrace.errors import UsageError

#: Counters held before those of steps older than the one before the newest are dropped.
HELD_KEYS = 1 << 14


class Occurrences:
    """Per (kind, name, step) counters of the events written (see the module docstring):
    per step, per (kind, name). A batch gives the same (kind, name) tuple of each event at
    every step (``PreparedEvent.key``): no new object per event is kept (Python's garbage
    collector runs less often, and a full collection of a TensorFlow process takes tenths of
    a second)."""

    def __init__(self, held_keys: int | None = None) -> None:
        self._counts: dict[int, dict[tuple[str, str], int]] = {}
        self._held = 0  # counters held, over every step
        self._held_keys = HELD_KEYS if held_keys is None else held_keys
        self._newest = 0
        self._floor: int | None = None  # steps below it have no counters any more

    def __len__(self) -> int:
        return self._held

    def next(self, kind: str, name: str, step: int) -> int:
        """The occurrence of the next event of ``kind`` and ``name`` at ``step``."""
        if self._floor is not None and step < self._floor:
            raise UsageError(
                f"{kind} event {name!r} at step {step} comes after step {self._newest}: once a "
                f"trace holds more than {self._held_keys} occurrence counters its events may "
                f"go back one step at most (format/occurrences.py); record it at its step")
        counts = self._counts.get(step)
        return counts.get((kind, name), 0) if counts else 0

    def next_many(self, keys: Sequence[tuple[str, str]], step: int) -> list[int]:
        """The occurrences of consecutive events of these kinds and names at ``step``, as
        :meth:`next` and :meth:`written` would number them one after the other (nothing
        counted: give them to :meth:`written_many`)."""
        if not keys:
            return []
        self.next(*keys[0], step)  # the step's check, once
        get = self._counts.get(step, {}).get
        out = [get(key, 0) for key in keys]
        if len(set(keys)) < len(keys):  # an event more than once: numbered in turn
            taken: dict[tuple[str, str], int] = {}
            for k, key in enumerate(keys):
                out[k] = taken[key] = taken.get(key, out[k] - 1) + 1
        return out

    def written_many(self, keys: Sequence[tuple[str, str]], step: int, occurrences: list[int]) -> None:
        """Count the events :meth:`next_many` numbered."""
        if keys:
            counts = self._counts.get(step)
            if counts is None:
                counts = self._counts[step] = {}
            counts.update(zip(keys, [occurrence + 1 for occurrence in occurrences]))
            self._held += occurrences.count(0)  # the new counters
            self._stepped(step)

    def written(self, kind: str, name: str, step: int, occurrence: int) -> None:
        """Count an event written with ``occurrence`` (from :meth:`next`)."""
        counts = self._counts.get(step)
        if counts is None:
            counts = self._counts[step] = {}
        counts[(kind, name)] = occurrence + 1
        if not occurrence:  # a new counter
            self._held += 1
        self._stepped(step)

    def _stepped(self, step: int) -> None:
        if step > self._newest:
            self._newest = step
            if self._held > self._held_keys:
                floor = self._floor = step - 1
                self._counts = {s: counts for s, counts in self._counts.items() if s >= floor}
                self._held = sum(len(counts) for counts in self._counts.values())
