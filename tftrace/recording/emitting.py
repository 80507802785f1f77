"""How the recorder writes an event: one at a time (``emit``), or prepared once and
written on every execution of a traced function (``prepare``).

A captured stream observed in a ``tf.function`` emits, per execution, the same kind, name
and attrs for each observed value but for the attrs' per-execution field (an op's
``inputs``). It gets a :class:`PreparedEmitter`: the writer checks the name and attrs
and packs the record's constant parts once, at the first event (so an error comes where
``emit``'s would), then writes only what changes (format/prepared.py). Recording against
a trace judges each event as an ``Event``: those go through :func:`emit_event`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from tftrace.errors import StoppedAtFirstDivergence, TraceWriteError
from tftrace.format.events import EventAttrs

if TYPE_CHECKING:
    from tftrace.format.prepared import PreparedEvent
    from tftrace.format.writer import TraceWriter
    from tftrace.recording.against import AgainstRecording


class EmitState(Protocol):
    """The four fields of the recording (the recorder) that writing an event reads and sets."""

    active: bool
    step: int
    against: AgainstRecording | None
    write_error: TraceWriteError | None


def emit_event(recording: EmitState, writer: TraceWriter | None, kind: str, name: str, value: Any,
               attrs: EventAttrs, keep_value: bool | None = None) -> int | None:
    """``Recorder.emit``: write one event at the recording's step; its seq, or None when
    the recording is not active."""
    if not recording.active or writer is None:
        return None
    against = recording.against
    try:  # against a trace, values are kept only where B diverges (recording/against.py)
        event = writer.add_event(kind, name, step=recording.step, value=value, attrs=attrs,
                                 keep_value=False if against else keep_value)
        if against is not None:
            against.observe(event, value)
        return event.seq
    except StoppedAtFirstDivergence:
        recording.active = False  # nothing more is recorded; the record() block ends the run
        raise
    except TraceWriteError as exc:
        _stop(recording, exc)
        raise


def stage_value(recording: EmitState, writer: TraceWriter | None, kind: str, value: Any) -> object | None:
    """``Recorder.stage``: a value kept whole, stored now (``TraceWriter.stage``) and emitted
    later; None when it is not (the recording stopped, or is against a trace, whose values
    are judged as arrays), then the caller emits the value itself."""
    if not recording.active or writer is None or recording.against is not None:
        return None
    try:
        return writer.stage(kind, value)
    except TraceWriteError as exc:
        _stop(recording, exc)
        raise


class PreparedEmitter:
    """``emitter(value, values)``: one event at the recording's current step, ``values``
    its attrs' per-execution field; returns its seq, None when the recording is not active."""

    __slots__ = ("_recording", "_writer", "_kind", "_name", "_attrs", "_keep_value", "_prepared")

    def __init__(self, recording: EmitState, writer: TraceWriter | None, kind: str, name: str,
                 attrs: EventAttrs, keep_value: bool | None) -> None:
        self._recording = recording
        self._writer = writer
        self._kind, self._name, self._attrs, self._keep_value = kind, name, attrs, keep_value
        self._prepared: PreparedEvent | None = None

    def __call__(self, value: Any, values: Sequence[int] | None) -> int | None:
        recording, writer = self._recording, self._writer
        if not recording.active or writer is None:
            return None
        prepared = self._prepared
        if prepared is None:
            prepared = self._prepared = writer.prepare(self._kind, self._name, self._attrs)
        if recording.against is not None:  # judged against trace A, as an Event
            return emit_event(recording, writer, self._kind, self._name, value,
                              prepared.attrs_with(values), self._keep_value)
        try:
            return writer.add_prepared(prepared, recording.step, value, values, self._keep_value)
        except TraceWriteError as exc:
            _stop(recording, exc)
            raise

    @property
    def prepared(self) -> bool:
        """Whether its event was prepared (at its first call while the recording was active)."""
        return self._prepared is not None

    def ready_for(self, shape: tuple[int, ...], dtype: str, size: int,
                  values: Sequence[int] | None) -> PreparedEvent | None:
        """Its prepared event, when a :class:`PreparedBatch` may write it for the common
        statistics of a value of ``shape``, ``dtype`` and ``size`` and as many ints as
        ``values`` (else None: prepared at a first call, spliced, those accepted)."""
        prepared = self._prepared
        if prepared is None or not prepared.ready_for(shape, dtype, size) or not prepared.accepts(values):
            return None
        return prepared


class PreparedBatch:
    """``batch(lows, highs, means, values)``: one event of each emitter, in order, under
    one lock of the writer (``TraceWriter.add_prepared_batch``), for the statistics
    without NaN or Inf of the values each is ``ready_for``; returns the first's seq. None:
    nothing written, each to be emitted on its own (the recording is not active, or is
    against a trace; the records could not be packed: the emitter raises the error)."""

    __slots__ = ("_recording", "_writer", "_events")

    def __init__(self, emitters: Sequence[PreparedEmitter], events: Sequence[PreparedEvent]) -> None:
        self._recording, self._writer = emitters[0]._recording, emitters[0]._writer
        self._events = list(events)

    @staticmethod
    def shared(emitters: Sequence[PreparedEmitter]) -> bool:
        """Whether ``emitters`` write through one recording and writer."""
        return all(e._recording is emitters[0]._recording and e._writer is emitters[0]._writer
                   for e in emitters)

    def __call__(self, lows: Sequence[float], highs: Sequence[float], means: Sequence[float],
                 values: Callable[[int], Sequence[Sequence[int] | None]]) -> int | None:
        recording, writer = self._recording, self._writer
        if not recording.active or writer is None or recording.against is not None:
            return None
        try:
            return writer.add_prepared_batch(self._events, recording.step, lows, highs, means, values)
        except (TypeError, ValueError, OverflowError):  # not packed: nothing written
            return None
        except TraceWriteError as exc:
            _stop(recording, exc)
            raise


def _stop(recording: EmitState, error: TraceWriteError) -> None:
    # The trace cannot be written (disk full...): stop capturing, and let the block end
    # with this error, even where TensorFlow wraps it.
    recording.write_error = recording.write_error or error
    recording.active = False
