"""The eager adapter: the value is there now, and is emitted at once.

Under replay, TensorFlow ignores an op callback's return value for an op executed
eagerly, so the generated op functions (``gen_random_ops.random_uniform`` and the like,
which every public random API calls through its module) are wrapped: the callback
notes the draw, the wrapper returns run A's value in place of B's.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any, Callable

import tensorflow as tf
from tensorflow.python.eager import context
from tensorflow.python.ops import (gen_random_ops, gen_stateful_random_ops,
                                   gen_stateless_random_ops, gen_stateless_random_ops_v2)

from tftrace.recording.patches import Patches
from tftrace.recording.random_ops import RANDOM_OPS
from tftrace.recording.sink import EventSink
from tftrace.recording.values import to_numpy

if TYPE_CHECKING:
    from tftrace.format.events import EndpointAttrs
    from tftrace.recording.adapters.replaying import DrawReplay
    from tftrace.recording.random_ops import RandomOpInfo
    from tftrace.recording.variables import VariableCapture


class EagerAdapter:
    """Eager values: emitted now (an initializer's draw when its variable is recorded)."""

    mode = "eager"

    def __init__(self, sink: EventSink, variables: VariableCapture,
                 draws: DrawReplay | None) -> None:
        self._sink = sink
        self._variables = variables
        self._draws = draws
        self._local = threading.local()
        self._patches = Patches()

    def install(self) -> None:
        if self._draws is not None:
            for module, attr in _generated_random_functions():
                self._patches.patch(module, attr, self._replaying(getattr(module, attr)))

    def uninstall(self) -> None:
        self._patches.restore()

    def endpoint(self, name: str, value: Any, attrs: EndpointAttrs) -> None:
        self._variables.record_pending_eager()
        self._sink.emit("endpoint", name, to_numpy(value, name), attrs)

    def random_op(self, info: RandomOpInfo, output: Any, graph: Any) -> Any:
        if getattr(self._local, "replacing", False):
            self._variables.note_draw(info)
            self._local.replaced_info = info  # the wrapper swaps in A's value
        elif not (info.initializer and self._variables.note_draw(info, output.numpy())):
            self._sink.emit("random_op", info.name, output.numpy(), info.attrs())
        return None

    def _replaying(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``original`` (a generated op function), returning A's value when run eagerly."""
        adapter = self

        def replaying(*args: Any, **kwargs: Any) -> Any:
            if adapter._draws is None or not adapter._sink.active \
                    or not context.executing_eagerly():
                return original(*args, **kwargs)
            local = adapter._local
            local.replacing, local.replaced_info = True, None
            try:
                output = original(*args, **kwargs)
            finally:
                local.replacing = False
            info, local.replaced_info = local.replaced_info, None
            if info is None:  # not seen by the op callback (e.g. another thread): leave it
                return output
            value = adapter._draws.take(info, tuple(output.shape), output.dtype.name,
                                        output.numpy)
            if value is None:
                return output
            with tf.device(output.device):
                return tf.constant(value, dtype=output.dtype)

        return replaying


def _generated_random_functions() -> list[tuple[Any, str]]:
    """(module, function name) of every generated op function of a random op."""
    found = []
    for module in (gen_random_ops, gen_stateless_random_ops, gen_stateless_random_ops_v2,
                   gen_stateful_random_ops):
        for op_type in sorted(RANDOM_OPS):
            attr = re.sub(r"(?<!^)(?=[A-Z])", "_", op_type).lower()
            if callable(getattr(module, attr, None)):
                found.append((module, attr))
    return found
