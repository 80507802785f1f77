"""Record run B against trace A (``record(..., against=A)``, ``tftrace record --against``).

Every event of B is written with its statistics and digest only, then judged against A's
by a judge the caller provides (compare/online.py's ``OnlineComparison``, built by
tftrace/against.py). Its value is stored, after the event (a ``value`` record, format
version 4), when it diverges or has no partner in A; the values of the ``window`` events
recorded just before the first divergence wait in a bounded ring in memory and are
stored when it comes, so the diverging event's inputs are in the trace too. With
``stop_at_first_divergence`` the first divergence raises
:class:`~tftrace.errors.StoppedAtFirstDivergence` where it is recorded, which the
``record()`` block catches.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Protocol

import numpy as np

from tftrace.errors import StoppedAtFirstDivergence, UsageError
from tftrace.format import arrays
from tftrace.format.events import CAPTURED_KINDS
from tftrace.format.schema import Event, ValueSummary
from tftrace.format.writer import TraceWriter

#: Events before the first divergence whose values are kept (their inputs, mostly).
DEFAULT_WINDOW = 32
#: At most this many bytes of values wait in the ring; an older value leaves it first.
DEFAULT_WINDOW_BYTES = 256 << 20


class Judgment(Protocol):
    """How one event compared with A: a pair status (``equal``, ``close``, ``diverged``) or
    ``unpaired``."""

    @property
    def status(self) -> str: ...

    @property
    def diverged(self) -> bool: ...

    @property
    def needs_value(self) -> bool:
        """Close, but only its values show it: B keeps them for the final diff."""
        ...


class EventJudge(Protocol):
    """Judges each event of B against A as it is recorded (compare/online.py)."""

    def judge(self, event: Event, value: Any) -> Judgment:
        """``value``: the event's value as a numpy array, or None (statistics only)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Counts so far, and whether A holds values: for B's environment and the report."""
        ...


class AgainstRecording:
    """Which values of B are kept, and when B stops (see the module docstring).

    Parameters
    ----------
    judge : EventJudge
        Compares each event with A's.
    trace : str
        Trace A's path, as B's environment names it.
    window, window_bytes : int
        Events before the first divergence whose values are stored with it, and the
        memory bound of that window (a single larger value is not held).
    stop_at_first_divergence : bool
        Raise :class:`StoppedAtFirstDivergence` where the first divergence is recorded.
    """

    def __init__(self, judge: EventJudge, trace: str, window: int = DEFAULT_WINDOW,
                 window_bytes: int = DEFAULT_WINDOW_BYTES,
                 stop_at_first_divergence: bool = False) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise UsageError(f"against window must be a count of events >= 0; got {window!r}")
        if isinstance(window_bytes, bool) or not isinstance(window_bytes, int) or window_bytes < 0:
            raise UsageError(f"against window_bytes must be a byte count >= 0; got {window_bytes!r}")
        self.judge = judge
        self.trace = trace
        self.window = window
        self.window_bytes = window_bytes
        self.stop_at_first_divergence = stop_at_first_divergence
        self.writer: TraceWriter | None = None
        self._window: deque[tuple[Event, np.ndarray]] = deque()
        self._window_nbytes = 0
        self.first: Event | None = None
        self.kept = 0  # values stored because the event diverged or had no partner in A
        self.window_kept = 0  # values stored from the window before the first divergence
        self.too_large = 0  # values larger than the window's memory bound, not held
        self.stopped = False
        #: ``diff(A, B)`` once the run ended (a DiffResult, set by tftrace/against.py; its
        #: ``pairs`` lists the non-equal pairs only, ``counts`` counts them all).
        self.result: Any = None
        #: How that comparison read the traces: ``streamed`` (one step at a time) and, when
        #: not, the ``fallback`` code saying why (compare/streamed.py).
        self.final: dict[str, Any] = {}

    def environment(self) -> dict[str, Any]:
        """What B's environment says about the comparison, when the recording starts."""
        return {"trace": self.trace, "window": self.window,
                "stop_at_first_divergence": self.stop_at_first_divergence,
                "a_values": self.judge.summary().get("a_values")}

    def create_writer(self, path: str | os.PathLike[str], environment: dict[str, Any],
                      overwrite: bool) -> TraceWriter:
        """B's trace: statistics and digests, values added after their events (format 4)."""
        environment = {**environment, "against": self.environment()}
        self.writer = TraceWriter.create(path, environment=environment, capture="stats",
                                         overwrite=overwrite, late_values=True)
        return self.writer

    def observe(self, event: Event, value: Any) -> None:
        """Judge ``event`` (just written, without its value) and store what must be kept.

        Raises :class:`StoppedAtFirstDivergence` at the first divergence when asked to.
        """
        held = None if value is None or isinstance(value, ValueSummary) or event.dtype is None \
            else arrays.as_array(value)
        judgment = self.judge.judge(event, held)
        keep = judgment.diverged or judgment.needs_value or \
            (judgment.status == "unpaired" and event.kind not in CAPTURED_KINDS)
        if not keep:
            if self.first is None and held is not None:
                self._hold(event, held)
            return
        first = self.first is None and judgment.diverged
        if first:
            self.first = event
            for earlier, earlier_value in self._window:
                self._store(earlier, earlier_value)
                self.window_kept += 1
            self._window.clear()
            self._window_nbytes = 0
        if held is not None:
            self._store(event, held)
            self.kept += 1
        if first and self.stop_at_first_divergence:
            self.stopped = True
            raise StoppedAtFirstDivergence(event.seq, event.name, event.step)

    def summary(self) -> dict[str, Any]:
        """Counts of the comparison while recording, for B's environment and the report."""
        return {**self.environment(), **self.judge.summary(),
                "kept": self.kept, "window_kept": self.window_kept, "too_large": self.too_large,
                "first_seq": None if self.first is None else self.first.seq,
                "stopped": self.stopped, "final": self.final}

    def _hold(self, event: Event, value: np.ndarray) -> None:
        if self.window == 0:
            return
        if value.nbytes > self.window_bytes:
            self.too_large += 1
            return
        if value.flags.writeable:  # the program may change its own array later
            value = value.copy()
        self._window.append((event, value))
        self._window_nbytes += value.nbytes
        while len(self._window) > self.window or self._window_nbytes > self.window_bytes:
            _, dropped = self._window.popleft()
            self._window_nbytes -= dropped.nbytes

    def _store(self, event: Event, value: np.ndarray) -> None:
        assert self.writer is not None
        self.writer.add_value(event, value)

