"""What the capture engines need from a recording: one sink, and where values come from.

The engines (layers, ops, gradients, optimizer) see the recorder only through
:class:`CaptureSink`: ``emit`` an event now (returns its sequence number), the current
``step``, and three ways to get a graph tensor's value later: observed on every
execution of the ``tf.function`` it belongs to, fetched by the ``Session.run`` calls that
compute it anyway, or noted as not captured (an XLA-compiled function). :func:`deliver`
decides among them once, for every engine.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops

from tftrace.errors import UsageError
from tftrace.format.events import LEVELS, EventAttrs
from tftrace.recording.sink import EventSink
from tftrace.recording.values import is_function_graph, xla_function

#: ``on_value(array)`` is called with the value, once per execution or run.
OnValue = Callable[[np.ndarray], object]


class CaptureSink(EventSink, Protocol):
    """The narrow sink as the capture engines see it: ``emit`` at the stream's level
    (returns the event's seq, None when not written), and the ways a graph value arrives."""

    @property
    def active(self) -> bool:
        """False once the recording stopped (late observers must do nothing)."""

    def observe_in_function(self, tensor: Any, on_value: OnValue, kind: str, name: str) -> None:
        """Call ``on_value`` with ``tensor``'s value on every execution of its function."""

    def watch_in_session(self, tensor: Any, on_value: OnValue, kind: str, name: str) -> None:
        """Call ``on_value`` from each ``Session.run`` that computes ``tensor`` anyway."""

    def not_captured(self, kind: str, name: str, reason: str, detail: str = "",
                     function: str | None = None) -> None:
        """List something seen but not captured, and why."""

    def variable_name(self, variable: Any) -> str:
        """The name the trace gives ``variable`` (its variable event's name)."""

    def in_replica(self, name: str) -> str:
        """``name`` on the replica being run or traced under ``tf.distribute`` with more
        than one replica (``name@replica-R``), else ``name`` (docs/scale.md)."""


@dataclass(frozen=True)
class CaptureLevels:
    """How much of each captured stream a recording keeps: "off", "stats" or "full".

    The defaults localize a changed layer with no endpoints placed, at small cost: layer
    outputs, gradients as statistics and digests; optimizer hyperparameters (scalars) in
    full; op outputs off (turn them on to name the op inside a layer, and filter them
    with ``op_scopes`` / ``op_types`` globs).
    """

    layers: str = "stats"
    ops: str = "off"
    gradients: str = "stats"
    optimizer: str = "full"
    op_scopes: tuple[str, ...] = field(default_factory=tuple)
    op_types: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for stream in ("layers", "ops", "gradients", "optimizer"):
            level = getattr(self, stream)
            if level not in LEVELS:
                raise UsageError(f"{stream}={level!r} is not a capture level; expected one of "
                                 f"{', '.join(LEVELS)}")

    def of(self, kind: str) -> str:
        """The level of the stream that writes events of ``kind``."""
        return {"layer": self.layers, "op": self.ops, "gradient": self.gradients,
                "optimizer": self.optimizer}[kind]

    def wants_op(self, op_type: str, name: str) -> bool:
        """Whether the op filters (globs on name scope/name and op type) keep this op."""
        if self.op_types and not any(fnmatch.fnmatchcase(op_type, g) for g in self.op_types):
            return False
        return not self.op_scopes or any(fnmatch.fnmatchcase(name, g) or
                                         fnmatch.fnmatchcase(name, g.rstrip("/") + "/*")
                                         for g in self.op_scopes)

    def to_dict(self) -> dict[str, Any]:
        """The environment's ``capture_levels``: the two sides of a diff compare them."""
        return {"layers": self.layers, "ops": self.ops, "gradients": self.gradients,
                "optimizer": self.optimizer, "op_scopes": list(self.op_scopes),
                "op_types": list(self.op_types)}


def mode_of(value: Any) -> str:
    """"eager", "function" (a tf.function being traced) or "graph" (TF1)."""
    if not isinstance(value, tf.Tensor) or isinstance(value, ops.EagerTensor):
        return "eager"
    return "function" if is_function_graph(value.graph) else "graph"


def deliver(sink: CaptureSink, kind: str, name: str, value: Any, on_value: OnValue) -> str:
    """Get ``value``'s numbers to ``on_value``, now or when the program computes them.

    Returns the mode: "eager" (called now), "function" (each execution), "graph" (each
    Session run that computes it), "xla" (inside an XLA-compiled function: not captured).
    """
    mode = mode_of(value)
    if mode == "eager":
        on_value(_numpy(value))
    elif mode == "function":
        compiled = xla_function(value.graph)
        if compiled is not None:  # a numpy_function would break XLA compilation
            sink.not_captured(kind, name, "xla", "", function=compiled)
            return "xla"
        sink.observe_in_function(value, on_value, kind, name)
    else:
        sink.watch_in_session(value, on_value, kind, name)
    return mode


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, ops.EagerTensor):
        return np.asarray(value.numpy())
    if isinstance(value, tf.Variable):
        with tf.init_scope():
            return np.asarray(value.numpy())
    return np.asarray(value)


def is_numeric(dtype: Any) -> bool:
    """Values a trace can summarize: numbers and bools, not strings, resources or variants."""
    dtype = tf.as_dtype(dtype)
    return dtype.is_numpy_compatible and dtype not in (tf.string, tf.resource, tf.variant)
