"""The tf.function adapter: a tensor of a function being traced, observed on every execution.

Values inside a function (or a control-flow branch) are registered with the
function's observers (observers.py), which place an observer op in its graph unless
that would change what Grappler makes of it. Nothing is added to a function XLA
compiles (``values.xla_function``): what it holds is listed as not captured.

Under replay the op callback's return value replaces a random op's output: a stateful
``numpy_function`` that takes run A's next value on every execution. It takes the
random op's output as input, so the op still runs (its state moves as without replay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import tensorflow as tf

from tftrace.recording.sink import EventSink
from tftrace.recording.values import observe_passing_through, xla_function

if TYPE_CHECKING:
    from tftrace.format.events import EndpointAttrs
    from tftrace.recording.adapters.replaying import DrawReplay
    from tftrace.recording.observers import FunctionObservers
    from tftrace.recording.random_ops import RandomOpInfo
    from tftrace.recording.variables import VariableCapture

#: ``(kind, name, function, detail, call_site)``: something inside an XLA-compiled function.
NotObserved = Callable[[str, str, str, str, "str | None"], None]


class FunctionAdapter:
    """Tensors of a ``tf.function`` being traced."""

    mode = "function"

    def __init__(self, sink: EventSink, observers: FunctionObservers, variables: VariableCapture,
                 not_observed: NotObserved, draws: DrawReplay | None) -> None:
        self._sink = sink
        self._observers = observers
        self._variables = variables
        self._not_observed = not_observed
        self._draws = draws

    def endpoint(self, name: str, value: Any, attrs: EndpointAttrs) -> None:
        compiled = xla_function(value.graph)
        if compiled is not None:  # a numpy_function would break XLA compilation
            self._not_observed("endpoint", name, compiled, "", attrs.call_site)
            return
        self._observers.observe(value, lambda array: self._sink.emit("endpoint", name, array, attrs),
                                "endpoint", name, attrs.call_site)

    def random_op(self, info: RandomOpInfo, output: Any, graph: Any) -> Any:
        sink = self._sink
        if info.initializer:
            self._variables.note_draw(info)
            if self._draws is None:
                # The initializer of a variable created in a trace is lifted out and run
                # once, before the function (never inside an XLA cluster): only an
                # observer in its dataflow goes along. It passes the draw through as is.
                return [observe_passing_through(output, lambda value: sink.emit(
                    "random_op", info.name, value, info.attrs()))]
        compiled = xla_function(graph)
        if compiled is not None:  # XLA compiles no numpy_function: neither seen nor replayed
            self._not_observed("random_op", info.name, compiled, info.op_type, info.call_site)
            return None
        if self._draws is not None:
            return [self._replaced(info, output, self._draws)]
        self._observers.observe(
            output, lambda value: sink.emit("random_op", info.name, value, info.attrs()),
            "random_op", info.name, info.call_site)
        return None

    def _replaced(self, info: RandomOpInfo, output: Any, draws: DrawReplay) -> Any:
        """A stateful op standing for ``output`` that yields A's next value per execution."""
        dtype = output.dtype

        def take(drawn: Any) -> Any:
            value = draws.take(info, np.shape(drawn), dtype.name, lambda: np.asarray(drawn))
            return drawn if value is None else np.asarray(value, dtype=dtype.as_numpy_dtype)

        replaced = tf.numpy_function(take, [output], Tout=dtype, stateful=True,
                                     name="tftrace_replay")
        replaced.set_shape(output.shape)
        return replaced
