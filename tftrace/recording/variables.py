"""Capture of variable creation, for every API that ends in ``tf.Variable``.

``tf.Variable``, ``tf.compat.v1.get_variable``, variable scopes, tf-slim, Keras 2
and 3 layers and ``track_tf1_style_variables`` all reach TensorFlow's default
variable creators (``variables.default_variable_creator_v2`` for resource
variables, ``variable_v1.default_variable_creator`` for TF1 ones), which
``Variable.__call__`` looks up at call time. Wrapping those two functions sees
each variable once, fully built, without touching the user's creator scopes.

The initial value is taken where the variable first gets a value: eagerly at
creation; in a TF1 graph when a ``Session.run`` executes its initializer (or a
checkpoint restore assigns it), via the Session adapter. Replay (issue 5) will
plug in here by rewriting ``initial_value`` before calling the real creator.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import tensorflow as tf
from tensorflow.python.ops import variable_v1, variables

from tftrace.recording.callsite import user_call_site
from tftrace.recording.calls import CallCounter
from tftrace.recording.values import is_function_graph

if TYPE_CHECKING:
    from tftrace.recording.recorder import Recorder


@dataclass
class VariableInfo:
    """A created variable and its event attrs."""

    variable: Any
    name: str
    creation_index: int
    call_index: int
    trainable: bool
    mode: str  # "graph" | "eager"
    call_site: str | None
    recorded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def attrs(self) -> dict[str, Any]:
        return {"trainable": self.trainable, "creation_index": self.creation_index,
                "call_index": self.call_index, "call_site": self.call_site,
                "mode": self.mode, **self.extra}


class VariableCapture:
    """Wraps TensorFlow's default variable creators while installed."""

    def __init__(self, recorder: Recorder, calls: CallCounter) -> None:
        self._recorder = recorder
        self._calls = calls
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._originals: list[tuple[Any, str, Callable[..., Any]]] = []
        self.seen: list[VariableInfo] = []
        self._pending_eager: list[VariableInfo] = []

    def install(self) -> None:
        for module, attr in ((variables, "default_variable_creator_v2"),
                             (variable_v1, "default_variable_creator")):
            original = getattr(module, attr)
            self._originals.append((module, attr, original))
            setattr(module, attr, self._wrap(original))

    def uninstall(self) -> None:
        for module, attr, original in reversed(self._originals):
            setattr(module, attr, original)
        self._originals.clear()

    def _wrap(self, creator: Callable[..., Any]) -> Callable[..., Any]:
        def create(next_creator: Any = None, **kwargs: Any) -> Any:
            variable = creator(next_creator, **kwargs)
            if self._recorder.active:
                self._on_created(variable)
            return variable
        return create

    def _on_created(self, variable: Any) -> None:
        graph_mode = bool(getattr(variable, "_in_graph_mode", False))
        graph = variable.graph if graph_mode else None
        call_index = self._calls.current()
        if call_index is None:
            call_index = self._recorder.graph_state(graph).runs if graph is not None else 0
        with self._lock:
            creation_index = next(self._counter)
        info = VariableInfo(
            variable=variable, name=variable.name, creation_index=creation_index,
            call_index=call_index, trainable=bool(variable.trainable),
            mode="graph" if graph_mode else "eager", call_site=user_call_site(2))
        self.seen.append(info)
        if graph_mode and not is_function_graph(graph):
            self._recorder.graph_state(graph).watch_variable(info)
        else:
            self._pending_eager.append(info)
            self.record_pending_eager()

    def record_pending_eager(self) -> None:
        """Record eager variables whose initial value can be read now.

        A variable created while a tf.function is traced gets its value when the
        function first runs; it stays pending until then.
        """
        still_pending = []
        for info in self._pending_eager:
            value = _read_eager(info.variable)
            if value is None:
                still_pending.append(info)
            else:
                self.record(info, value)
        self._pending_eager = still_pending

    def record(self, info: VariableInfo, value: Any) -> None:
        if not info.recorded:
            info.recorded = True
            self._recorder.emit("variable", info.name, value, info.attrs())

    def record_unvalued(self) -> None:
        """At the end: variables that never got a value are still recorded, without one."""
        for info in self.seen:
            if not info.recorded:
                info.extra["initialized"] = False
                self.record(info, None)


def _read_eager(variable: Any) -> Any:
    try:
        with tf.init_scope():
            if not tf.executing_eagerly():
                return None
            return variable.numpy()
    except (tf.errors.FailedPreconditionError, ValueError, AttributeError, TypeError):
        return None
