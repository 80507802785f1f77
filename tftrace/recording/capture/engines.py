"""The capture engines of one recording, and the sink they write through.

:class:`RecordingSink` is the only place that knows the recording: it turns the engines'
requests into the recorder's eager emit, ``tf.function`` observers and Session watches,
and applies each stream's level (values kept or statistics only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from tftrace.format.events import EventAttrs, EventKind
from tftrace.recording.capture.gradients import GradientCapture
from tftrace.recording.capture.layers import LayerCapture
from tftrace.recording.capture.ops import OpCapture
from tftrace.recording.capture.optimizers import OptimizerCapture
from tftrace.recording.capture.sink import CaptureLevels, OnValue

if TYPE_CHECKING:
    from tftrace.recording.sink import Recording


class RecordingSink:
    """:class:`~tftrace.recording.capture.sink.CaptureSink` over a :class:`~tftrace.recording.sink.Recording`."""

    def __init__(self, recorder: Recording, levels: CaptureLevels) -> None:
        self._recorder = recorder
        self._levels = levels

    @property
    def step(self) -> int:
        return self._recorder.step

    @property
    def active(self) -> bool:
        return self._recorder.active

    def emit(self, kind: str, name: str, value: Any, attrs: EventAttrs,
             keep_value: bool | None = None) -> int | None:
        level = self._levels.of(EventKind(kind))
        if level == "off":
            return None
        return self._recorder.emit(kind, name, value, attrs, keep_value=level == "full")

    def observe_in_function(self, tensor: Any, on_value: OnValue, kind: str, name: str) -> None:
        self._recorder.observers.observe(tensor, on_value, kind, name, None, grouped=True,
                                         summary=self._levels.of(EventKind(kind)) == "stats")

    def watch_in_session(self, tensor: Any, on_value: OnValue, kind: str, name: str) -> None:
        self._recorder.graph_state(tensor.graph).watch_value(kind, name, tensor, on_value)

    def not_captured(self, kind: str, name: str, reason: str, detail: str = "",
                     function: str | None = None) -> None:
        if reason == "xla" and function is not None:
            self._recorder.compiled.note(function, kind)
        self._recorder.gaps.note(kind, name, reason, detail, function=function)

    def variable_name(self, variable: Any) -> str:
        return self._recorder.variables.name_of(variable)


class CaptureEngines:
    """Layers, ops, gradients and optimizer state, installed and removed together."""

    def __init__(self, recorder: Recording, levels: CaptureLevels,
                 after_import: Callable[[str, Callable[[Any], None]], None]) -> None:
        self.levels = levels
        self.sink = RecordingSink(recorder, levels)
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
