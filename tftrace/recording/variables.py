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

import contextlib
import itertools
import os
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import tensorflow as tf
from tensorflow.python.framework import ops
from tensorflow.python.ops import variable_v1, variables

from tftrace.format.events import VariableAttrs
from tftrace.recording.callsite import user_call_site
from tftrace.recording.calls import CallCounter
from tftrace.recording.distributed import is_replica_copy
from tftrace.recording.lifted import LiftedVariables
from tftrace.recording.patches import Patches
from tftrace.recording.values import is_function_graph
from tftrace.recording.sink import EventSink

if TYPE_CHECKING:
    from tftrace.recording.gaps import GapList
    from tftrace.recording.random_ops import RandomOpInfo
    from tftrace.recording.replay import ReplaySource
    from tftrace.recording.session import GraphState


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
    function: str | None = None  # the tf.function whose trace created it
    initial_value: str | None = None  # "after-first-execution": read after its function ran
    initialized: bool | None = None  # False: never got a value
    replayed: bool | None = None  # replay gave it run A's initial value
    replay_value: Any = None  # run A's initial value, fed to a graph variable's initializer

    def attrs(self) -> VariableAttrs:
        return VariableAttrs(trainable=self.trainable, creation_index=self.creation_index,
                             call_index=self.call_index, call_site=self.call_site, mode=self.mode,
                             function=self.function, initial_value=self.initial_value,
                             initialized=self.initialized, replayed=self.replayed)


class VariableCapture:
    """Wraps TensorFlow's default variable creators while installed."""

    def __init__(self, sink: EventSink, calls: CallCounter, gaps: GapList,
                 replay: ReplaySource | None, graph_state: Callable[[Any], GraphState]) -> None:
        self._sink = sink
        self._calls = calls
        self._gaps = gaps
        self._replay_source = replay
        self._graph_state = graph_state
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._patches = Patches()
        self.seen: list[VariableInfo] = []
        self._pending_eager: list[VariableInfo] = []
        self._pending_lifted: list[VariableInfo] = []  # created in a trace, not initialized yet
        self._local = threading.local()
        self._lifted = LiftedVariables(self)
        self._names: dict[int, str] = {}  # id(variable) -> name, filled from seen
        self._named = 0

    def creating(self) -> bool:
        """True while this thread is inside a variable's creation (its initializer runs)."""
        return bool(getattr(self._local, "creations", None))

    def install(self) -> None:
        for module, attr in ((variables, "default_variable_creator_v2"),
                             (variable_v1, "default_variable_creator")):
            self._patches.patch(module, attr, self._wrap(getattr(module, attr)))
        self._lifted.install()

    def uninstall(self) -> None:
        self._lifted.uninstall()
        self._patches.restore()

    def _wrap(self, creator: Callable[..., Any]) -> Callable[..., Any]:
        def create(next_creator: Any = None, **kwargs: Any) -> Any:
            with self.creation() as creation:
                variable = creator(next_creator, **kwargs)
                creation.variable = variable
            return variable
        return create

    @contextlib.contextmanager
    def creation(self, *, lifted: bool = False) -> Iterator[_Creation]:
        """The creation of one variable: random ops drawn meanwhile are its initializer's.

        Set ``.variable`` in the block; at its end the variable is recorded (``lifted``:
        created while a tf.function is traced, its initializer lifted out of it) and
        its initializer's draws are given its name.
        """
        stack = self._local.__dict__.setdefault("creations", [])
        creation = _Creation(keras_path=_keras_variable_path())
        stack.append(creation)
        try:
            yield creation
        finally:
            stack.pop()
        if creation.variable is None or not self._sink.active or is_replica_copy(creation.variable):
            return  # a mirrored variable is recorded once, as its first copy
        name = creation.keras_path or creation.variable.name
        for draw in creation.draws:
            draw.variable = name
        for draw, value in creation.deferred:  # eager draws: recorded now, with the name
            self._sink.emit("random_op", draw.name, value, draw.attrs())
        self._on_created(creation.variable, creation.keras_path, lifted=lifted)

    def note_draw(self, draw: RandomOpInfo, value: Any = None) -> bool:
        """An initializer's random op; with ``value`` (eager), recorded when its variable is.

        Returns False when no variable is being created in this thread.
        """
        stack = getattr(self._local, "creations", None)
        if not stack:
            return False
        stack[-1].draws.append(draw)
        if value is not None:
            stack[-1].deferred.append((draw, value))
        return True

    def name_of(self, variable: Any) -> str:
        """The name ``variable`` has in the trace (a Keras 3 variable: its path)."""
        inner = getattr(variable, "value", None)
        if not isinstance(variable, tf.Variable) and isinstance(inner, tf.Variable):
            path = getattr(variable, "path", None)
            variable = inner
        else:
            path = None
        with self._lock:
            for info in self.seen[self._named:]:
                self._names[id(info.variable)] = info.name
            self._named = len(self.seen)
            return self._names.get(id(variable)) or path or str(variable.name)

    def _on_created(self, variable: Any, keras_path: str | None = None, *,
                    lifted: bool = False) -> VariableInfo:
        graph_mode = bool(getattr(variable, "_in_graph_mode", False))
        graph = variable.graph if graph_mode else None
        call_index = self._calls.current()
        if call_index is None:
            call_index = self._graph_state(graph).runs if graph is not None else 0
        with self._lock:
            creation_index = next(self._counter)
        info = VariableInfo(
            variable=variable, name=keras_path or variable.name, creation_index=creation_index,
            call_index=call_index, trainable=bool(variable.trainable),
            mode="graph" if graph_mode else "eager", call_site=user_call_site(3))
        if lifted:
            info.function = _function_name()
        self._replay(info, lifted=lifted)
        self.seen.append(info)
        if graph_mode and not is_function_graph(graph):
            self._graph_state(graph).watch_variable(info)
        elif lifted:  # no value before its lifted initializer runs (reading it gives [])
            with self._lock:
                self._pending_lifted.append(info)
        else:
            self._pending_eager.append(info)
            self.record_pending_eager()
        return info

    def after_lifted_initialization(self, lifted: Sequence[Any]) -> None:
        """tf.function has run the initializers it lifted out of a first trace: before the
        function's first execution, the variables hold exactly their initial values."""
        for info in self._take_lifted(lifted):
            if info.replay_value is not None:
                with tf.init_scope():
                    info.variable.assign(info.replay_value)
                info.replay_value = None
            self._pending_eager.append(info)
        self.record_pending_eager()

    def unliftable(self, lifted: Sequence[Any]) -> None:
        """tf.function could not lift these initializers: they run inside the first
        execution, so the value tftrace can read comes after that execution's updates."""
        for info in self._take_lifted(lifted):
            info.initial_value = "after-first-execution"
            if info.replay_value is not None:
                info.replayed = False
                info.replay_value = None
            self._pending_eager.append(info)

    def _take_lifted(self, lifted: Sequence[Any]) -> list[VariableInfo]:
        ids = {id(v) for v in lifted}
        with self._lock:
            taken = [i for i in self._pending_lifted if id(i.variable) in ids]
            self._pending_lifted = [i for i in self._pending_lifted if id(i.variable) not in ids]
        return taken

    def _replay(self, info: VariableInfo, lifted: bool = False) -> None:
        replay = self._replay_source
        if replay is None or not replay.variables:
            return
        variable = info.variable
        shape = variable.shape
        if shape.rank is None or not shape.is_fully_defined():
            info.replayed = False
            return
        value = replay.initial_value(info.name, tuple(shape.as_list()),
                                     variable.dtype.base_dtype.name)
        info.replayed = value is not None
        if value is None:
            return
        if info.mode == "graph" or lifted:  # fed to its initializer / assigned once initialized
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
            self._sink.emit("variable", info.name, value, info.attrs())
            if info.initial_value == "after-first-execution":
                self._gaps.note("variable", info.name, "initial-value-after-update",
                                         f"in {info.function}",
                                         call_site=info.call_site)

    def record_unvalued(self) -> None:
        """At the end: variables that never got a value are still recorded, without one."""
        for info in self.seen:
            if not info.recorded:
                info.initialized = False
                self.record(info, None)
                self._gaps.note("variable", info.name, "no-initial-value",
                                         "recorded without a value", call_site=info.call_site,
                                         write=False)


@dataclass
class _Creation:
    """One variable being created in this thread."""

    keras_path: str | None
    variable: Any = None
    draws: list[RandomOpInfo] = field(default_factory=list)
    deferred: list[tuple[RandomOpInfo, Any]] = field(default_factory=list)


def _function_name() -> str | None:
    graph = ops.get_default_graph()
    return str(graph.name) if is_function_graph(graph) else None


def _keras_variable_path(max_depth: int = 24) -> str | None:
    """The path (``"model/dense/kernel"``) of the Keras 3 variable being initialized.

    Keras 3 names its ``tf.Variable`` after the variable alone (``"model/kernel:0"``
    for every layer's kernel); its own path is what users see and is unique.
    """
    frame: FrameType | None = sys._getframe(1)
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
