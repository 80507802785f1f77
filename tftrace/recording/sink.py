"""The narrow interface the capture mechanisms record through: emit an event, at a step.

Every adapter (eager, ``tf.function``, Session) and every capture module ends in
:meth:`EventSink.emit`: the kind, the name, the value (a numpy array, a Python scalar,
or None for an event without one) and the kind's typed attrs (format/events.py). The
recorder is the sink; it writes the event at its current ``step`` and stops capturing
when the trace cannot be written. A new capture module (layers, ops, gradients,
optimizer state) needs nothing else to record its events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tftrace.format.events import EventAttrs

if TYPE_CHECKING:
    from tftrace.recording.gaps import CompiledFunctions, GapList
    from tftrace.recording.observers import FunctionObservers
    from tftrace.recording.replay import ReplaySource
    from tftrace.recording.seeds import SeedControl
    from tftrace.recording.session import GraphState
    from tftrace.recording.variables import VariableCapture


class EventSink(Protocol):
    """Where recorded events go."""

    @property
    def step(self) -> int:
        """The current training step (``rec.next_step()`` count)."""
        ...

    def emit(self, kind: str, name: str, value: Any, attrs: EventAttrs) -> None:
        """Record one event at the current step (no-op when the recording is not active)."""
        ...


class Recording(EventSink, Protocol):
    """What the capture mechanisms share besides the sink: the recording's state and its
    other mechanisms (the recorder provides it; adapters never import the recorder)."""

    active: bool
    replay: ReplaySource | None
    seeds: SeedControl
    variables: VariableCapture
    observers: FunctionObservers
    compiled: CompiledFunctions
    gaps: GapList

    def graph_state(self, graph: Any) -> GraphState:
        """The TF1 adapter's state for ``graph`` (its watched tensors and last Session)."""
        ...

    def not_observed(self, kind: str, name: str, function: str, detail: str = "",
                     call_site: str | None = None) -> None:
        """Something inside an XLA-compiled function, which cannot be observed."""
        ...

    def session_observer_effect(self, watch: Any) -> None:
        """A Session run leaves out a watched tensor whose fetch would change its results."""
        ...
