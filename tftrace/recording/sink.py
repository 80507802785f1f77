"""The narrow interface the capture mechanisms record through: emit an event, at a step.

Every adapter (eager, ``tf.function``, Session) and every capture module ends in
:meth:`EventSink.emit`: the kind, the name, the value (a numpy array, a Python scalar,
or None for an event without one) and the kind's typed attrs (format/events.py). The
recorder is the sink; it writes the event at its current ``step`` and stops capturing
when the trace cannot be written. Whatever else a module needs (the replay source, the
variables seen, the list of what was not captured) is handed to it explicitly when the
recorder builds it: no module of ``recording/`` imports the recorder.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol, Sequence

from tftrace.format.events import EventAttrs

#: An event prepared once (:meth:`EventSink.prepare`): ``emit(value, values)`` records one
#: at the current step, ``values`` being its attrs' per-execution field (an op's
#: ``inputs``); returns its seq (None when the recording is not active).
PreparedEmit = Callable[[Any, Optional[Sequence[int]]], Optional[int]]


class EventSink(Protocol):
    """Where recorded events go."""

    @property
    def step(self) -> int:
        """The current training step (``rec.next_step()`` count)."""
        ...

    @property
    def active(self) -> bool:
        """False once the recording stopped (or its trace could not be written)."""
        ...

    def emit(self, kind: str, name: str, value: Any, attrs: EventAttrs,
             keep_value: bool | None = None) -> int | None:
        """Record one event at the current step; returns its seq (None when the recording
        is not active). ``keep_value``: store the value (True) or only its statistics and
        digest (False) whatever the trace's ``capture``: a stream's own level."""
        ...

    def prepare(self, kind: str, name: str, attrs: EventAttrs,
                keep_value: bool | None = None) -> PreparedEmit:
        """How to emit, on every execution of a traced function, an event whose kind, name
        and attrs stay the same but for the kind's per-execution field (an op's ``inputs``;
        ``attrs`` holds as many ints as each call gives): checked and packed once, at the
        first call, then only what changes is written (recording/emitting.py)."""
        ...

    def stage(self, kind: str, value: Any) -> object | None:
        """A value of ``kind`` kept whole, stored now, in the calling thread (an observer's):
        what to emit in its place later, or None (emit the value itself)."""
        ...
