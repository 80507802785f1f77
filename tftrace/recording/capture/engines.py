"""The capture engines of one recording, and the sink they write through.

:class:`RecordingSink` is the only place that knows the recording: it turns the engines'
requests into the recorder's eager emit, ``tf.function`` observers and Session watches,
and applies each stream's level (values kept or statistics only).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from tftrace.format.events import CAPTURED_KINDS, EventAttrs, EventKind
from tftrace.recording.capture.gradients import GradientCapture
from tftrace.recording.capture.layers import LayerCapture
from tftrace.recording.capture.ops import OpCapture
from tftrace.recording.capture.optimizers import OptimizerCapture
from tftrace.recording.capture.sink import CaptureLevels, OnValue
from tftrace.recording.independent import Staged

if TYPE_CHECKING:
    from tftrace.recording.gaps import CompiledFunctions, GapList
    from tftrace.recording.observers import FunctionObservers
    from tftrace.recording.session import GraphState
    from tftrace.recording.sink import EventSink, PreparedEmit
    from tftrace.recording.distributed import ReplicaNaming
    from tftrace.recording.variables import VariableCapture


class RecordingSink:
    """:class:`~tftrace.recording.capture.sink.CaptureSink` over the recording's
    :class:`~tftrace.recording.sink.EventSink` and the collaborators it is handed."""

    def __init__(self, sink: EventSink, levels: CaptureLevels, observers: FunctionObservers,
                 graph_state: Callable[[Any], GraphState], compiled: CompiledFunctions,
                 gaps: GapList, variables: VariableCapture, replicas: ReplicaNaming) -> None:
        self._sink = sink
        self.levels = levels
        self._observers = observers
        self._graph_state = graph_state
        self._compiled = compiled
        self._gaps = gaps
        self._variables = variables
        self._replicas = replicas
        # per event: the level of the kind's stream, looked up once here
        self._levels = {kind.value: levels.of(kind) for kind in CAPTURED_KINDS}

    @property
    def step(self) -> int:
        return self._sink.step

    @property
    def active(self) -> bool:
        return self._sink.active

    def emit(self, kind: str, name: str, value: Any, attrs: EventAttrs,
             keep_value: bool | None = None) -> int | None:
        level = self._levels[kind]
        if level == "off":
            return None
        return self._sink.emit(kind, name, value, attrs, keep_value=level == "full")

    def prepare(self, kind: str, name: str, attrs: EventAttrs,
                keep_value: bool | None = None) -> PreparedEmit:
        if self._levels[kind] == "off":
            return lambda value, values: None
        return self._sink.prepare(kind, name, attrs, keep_value=self._levels[kind] == "full")

    def stage(self, kind: str, value: Any) -> object | None:
        return self._sink.stage(kind, value)

    def observe_in_function(self, tensor: Any, on_value: OnValue, kind: str, name: str) -> None:
        level = self._levels[kind]
        if level == "full":  # stored as it arrives, on the observer's thread (independent.py)
            on_value = Staged(on_value, partial(self._sink.stage, kind))
        self._observers.observe(tensor, on_value, kind, name, None, grouped=True, summary=level == "stats")

    def watch_in_session(self, tensor: Any, on_value: OnValue, kind: str, name: str) -> None:
        self._graph_state(tensor.graph).watch_value(kind, name, tensor, on_value)

    def not_captured(self, kind: str, name: str, reason: str, detail: str = "",
                     function: str | None = None) -> None:
        if reason == "xla" and function is not None:
            self._compiled.note(function, kind)
        self._gaps.note(kind, name, reason, detail, function=function)

    def variable_name(self, variable: Any) -> str:
        return self._variables.name_of(variable)

    def in_replica(self, name: str) -> str:
        return self._replicas.parts(name, None)[0][0]


class CaptureEngines:
    """Layers, ops, gradients and optimizer state, installed and removed together."""

    def __init__(self, sink: RecordingSink,
                 after_import: Callable[[str, Callable[[Any], None]], None]) -> None:
        levels = sink.levels
        self.levels = levels
        self.sink = sink
        self.layers = LayerCapture(self.sink, levels.layers, after_import)
        self.ops = OpCapture(self.sink, levels, self.layers.current_layer)
        self.gradients = GradientCapture(self.sink, levels.gradients, after_import)
        self.optimizer = OptimizerCapture(self.sink, levels.optimizer, after_import)

    def install(self) -> None:
        # layers track the current layer for the ops, even with layer capture off
        if self.levels.layers != "off" or self.levels.ops != "off":
            self.layers.install()
        self.ops.install()
        self.gradients.install()
        self.optimizer.install()

    def uninstall(self) -> None:
        self.optimizer.uninstall()
        self.gradients.uninstall()
        self.ops.uninstall()
        self.layers.uninstall()
