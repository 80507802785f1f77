"""Capture of variable creation, for every API that ends in ``tf.Variable``.

``tf.Variable``, ``tf.compat.v1.get_variable``, variable scopes, tf-slim, Keras 2
and 3 layers and ``track_tf1_style_variables`` all reach TensorFlow's default
variable creators (``variables.default_variable_creator_v2`` for resource
variables, ``variable_v1.default_variable_creator`` for TF1 ones), which
``Variable.__call__`` looks up at call time. Wrapping those two functions sees
each variable once, fully built, without touching the user's creator scopes.

The initial value is taken where the variable first gets a value: eagerly at
creation; in a TF1 graph when a ``Session.run`` executes its initializer (or a
checkpoint restore assigns it), via the Session adapter.

Under replay, a variable whose name is in run A starts from A's initial value: an
eager variable is assigned it right after creation (its own initializer has run,
so the random ops it drew still take their place in the random stream); a graph
variable's ``initial_value`` is fed A's value by the Session run that executes
its initializer. ``replayed`` in the event says which happened.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
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
    replay_value: Any = None  # run A's initial value, fed to a graph variable's initializer

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
        self._local = threading.local()

    def creating(self) -> bool:
        """True while this thread is inside a variable's creation (its initializer runs)."""
        return getattr(self._local, "depth", 0) > 0

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
            local = self._local
            local.depth = getattr(local, "depth", 0) + 1
            try:
                variable = creator(next_creator, **kwargs)
            finally:
                local.depth -= 1
            if self._recorder.active:
                self._on_created(variable, _keras_variable_path())
            return variable
        return create

    def _on_created(self, variable: Any, keras_path: str | None = None) -> None:
        graph_mode = bool(getattr(variable, "_in_graph_mode", False))
        graph = variable.graph if graph_mode else None
        call_index = self._calls.current()
        if call_index is None:
            call_index = self._recorder.graph_state(graph).runs if graph is not None else 0
        with self._lock:
            creation_index = next(self._counter)
        info = VariableInfo(
            variable=variable, name=keras_path or variable.name, creation_index=creation_index,
            call_index=call_index, trainable=bool(variable.trainable),
            mode="graph" if graph_mode else "eager", call_site=user_call_site(2))
        self._replay(info)
        self.seen.append(info)
        if graph_mode and not is_function_graph(graph):
            self._recorder.graph_state(graph).watch_variable(info)
        else:
            self._pending_eager.append(info)
            self.record_pending_eager()

    def _replay(self, info: VariableInfo) -> None:
        replay = self._recorder.replay
        if replay is None or not replay.variables:
            return
        variable = info.variable
        shape = variable.shape
        if shape.rank is None or not shape.is_fully_defined():
            info.extra["replayed"] = False
            return
        value = replay.initial_value(info.name, tuple(shape.as_list()),
                                     variable.dtype.base_dtype.name)
        info.extra["replayed"] = value is not None
        if value is None:
            return
        if info.mode == "graph":
            info.replay_value = value
        else:
            with tf.init_scope():
                variable.assign(value)

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
                self._recorder.gaps.note("variable", info.name, "no-initial-value",
                                         "recorded without a value", call_site=info.call_site,
                                         write=False)


def _keras_variable_path(max_depth: int = 8) -> str | None:
    """The path (``"model/dense/kernel"``) of the Keras 3 variable being initialized.

    Keras 3 names its ``tf.Variable`` after the variable alone (``"model/kernel:0"``
    for every layer's kernel); its own path is what users see and is unique.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(max_depth):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_name == "_initialize" and f"keras{os.sep}src{os.sep}backend" in code.co_filename:
            path = getattr(frame.f_locals.get("self"), "path", None)
            return path if isinstance(path, str) and path else None
        frame = frame.f_back
    return None


def _read_eager(variable: Any) -> Any:
    try:
        with tf.init_scope():
            if not tf.executing_eagerly():
                return None
            return variable.numpy()
    except (tf.errors.FailedPreconditionError, ValueError, AttributeError, TypeError):
        return None
