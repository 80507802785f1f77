"""Capture of random ops through TensorFlow's op callbacks.

The callback sees every op: created in a graph, executed eagerly, or created
while a ``tf.function`` is traced. For random ops it builds one description
(op type, seeds, seed order, mode, scope, call site) and hands the values on by
the route that mode allows:

* eager: the outputs are values already; recorded now;
* tf.function / control-flow branch: observed on every execution (values.py);
* TF1 graph: registered with the graph's watch list; the Session adapter fetches
  the output in each ``Session.run`` that executes the op anyway.

Under replay (replay.py) the op's output is replaced by run A's value:

* in a tf.function the callback returns a replacement output, a stateful
  ``numpy_function`` that takes A's next value on every execution;
* eagerly TensorFlow ignores a callback's return value, so the generated op
  functions (``gen_random_ops.random_uniform`` and the like, which every public
  random API calls through its module) are wrapped while replaying;
* in a TF1 graph the Session adapter feeds A's values to the op's output.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context
from tensorflow.python.framework import op_callbacks
from tensorflow.python.ops import (gen_random_ops, gen_stateful_random_ops,
                                   gen_stateless_random_ops, gen_stateless_random_ops_v2)

from tftrace.format.events import RandomOpAttrs
from tftrace.recording.callsite import user_call_site
from tftrace.recording.patches import Patches
from tftrace.recording.values import (execution_mode, is_function_graph, observe_passing_through,
                                     xla_function)
from tftrace.recording.sink import Recording

#: Stateful random ops: seeded through ``random_seed.get_seed``, or by a tf.random.Generator.
STATEFUL_RANDOM_OPS = frozenset({
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal",
    "ParameterizedTruncatedNormal", "RandomShuffle", "Multinomial", "RandomGamma",
    "RandomPoisson", "RandomPoissonV2", "RandomCrop",
    "StatefulUniform", "StatefulUniformInt", "StatefulUniformFullInt",
    "StatefulStandardNormal", "StatefulStandardNormalV2", "StatefulTruncatedNormal",
    "StatefulRandomBinomial", "RandomIndexShuffle",
})
#: Stateless random ops (Keras 3 initializers and dropout use these).
STATELESS_RANDOM_OPS = frozenset({
    "StatelessRandomUniform", "StatelessRandomUniformInt", "StatelessRandomUniformFullInt",
    "StatelessRandomNormal", "StatelessTruncatedNormal", "StatelessMultinomial",
    "StatelessRandomUniformV2", "StatelessRandomUniformIntV2",
    "StatelessRandomUniformFullIntV2", "StatelessRandomNormalV2",
    "StatelessTruncatedNormalV2", "StatelessParameterizedTruncatedNormal",
    "StatelessRandomBinomial", "StatelessRandomGammaV2", "StatelessRandomGammaV3",
    "StatelessRandomPoisson", "StatelessShuffle",
})
RANDOM_OPS = STATEFUL_RANDOM_OPS | STATELESS_RANDOM_OPS


@dataclass
class RandomOpInfo:
    """What is known about a random op when it gets its seed (the event's attrs).

    ``variable`` is set once the variable whose initializer drew it exists.
    """

    op_type: str
    name: str
    seed: tuple[int, int] | None
    seed_index: int
    mode: str  # "graph" | "eager" | "function"
    name_scope: str
    op_name: str | None
    call_site: str | None
    initializer: bool = False  # drawn while a variable was being created (its initializer)
    variable: str | None = None  # that variable's name

    def attrs(self, replayed_from: int | None = None) -> RandomOpAttrs:
        return RandomOpAttrs(op_type=self.op_type, seed=self.seed or None,
                             seed_index=self.seed_index, mode=self.mode, name_scope=self.name_scope,
                             op_name=self.op_name, call_site=self.call_site,
                             initializer=self.initializer, variable=self.variable,
                             replayed_from=replayed_from)


def _attr_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    return int(value.i) if hasattr(value, "i") else None  # AttrValue proto in graphs


def _seed_pair(attrs: Any) -> tuple[int, int] | None:
    if not attrs:
        return None
    pairs = dict(zip(attrs[::2], attrs[1::2]))
    seed, seed2 = _attr_int(pairs.get("seed")), _attr_int(pairs.get("seed2"))
    return None if seed is None or seed2 is None else (seed, seed2)


class RandomOpCapture:
    """The op callback, registered in the recording thread while a recorder is active."""

    def __init__(self, recorder: Recording) -> None:
        self._recorder = recorder
        self._local = threading.local()
        self._installed = False
        self._patches = Patches()
        self._graphs_seen: weakref.WeakSet[Any] = weakref.WeakSet()

    def install(self) -> None:
        op_callbacks.add_op_callback(self._callback)
        self._installed = True
        replay = self._recorder.replay
        if replay is not None and replay.random:
            for module, attr in _generated_random_functions():
                self._patches.patch(module, attr, self._replaying(getattr(module, attr)))

    def uninstall(self) -> None:
        self._patches.restore()
        if self._installed:
            op_callbacks.remove_op_callback(self._callback)
            self._installed = False

    def _callback(self, op_type: str, inputs: Any, attrs: Any, outputs: Any,
                  op_name: str | None = None, graph: Any = None) -> Any:
        if graph is not None and graph not in self._graphs_seen and is_function_graph(graph):
            self._graphs_seen.add(graph)
            compiled = xla_function(graph)
            if compiled is not None:
                self._recorder.compiled.note(compiled)
        if op_type not in RANDOM_OPS or not outputs or getattr(self._local, "busy", False):
            return None
        self._local.busy = True
        try:
            return self._on_random_op(op_type, attrs, outputs[0], op_name, graph)
        finally:
            self._local.busy = False

    def _on_random_op(self, op_type: str, attrs: Any, output: Any,
                      op_name: str | None, graph: Any) -> Any:
        recorder = self._recorder
        pending = recorder.seeds.take_pending() if op_type in STATEFUL_RANDOM_OPS else None
        seed_index = pending[0] if pending else recorder.seeds.next_index()
        mode = execution_mode(graph)
        if mode == "eager":
            scope = context.context().scope_name.rstrip("/")
            name = f"{scope}/{op_type}" if scope else op_type
        else:
            scope = op_name.rpartition("/")[0] if op_name else ""
            name = op_name or op_type
        info = RandomOpInfo(op_type=op_type, name=name, seed=_seed_pair(attrs),
                            seed_index=seed_index, mode=mode, name_scope=scope,
                            op_name=op_name, call_site=user_call_site(2),
                            initializer=recorder.variables.creating())
        replay = recorder.replay if recorder.replay is not None and recorder.replay.random \
            else None
        if mode == "eager":
            if getattr(self._local, "replacing", False) and replay is not None:
                recorder.variables.note_draw(info)
                self._local.replaced_info = info  # the wrapper swaps in A's value
            elif not (info.initializer and recorder.variables.note_draw(info, output.numpy())):
                recorder.emit("random_op", info.name, output.numpy(), info.attrs())
            return None
        if info.initializer:
            recorder.variables.note_draw(info)
        if mode == "function":
            if info.initializer and replay is None:
                # The initializer of a variable created in a trace is lifted out and run
                # once, before the function (never inside an XLA cluster): only an
                # observer in its dataflow goes along. It passes the draw through as is.
                return [observe_passing_through(output, lambda value: recorder.emit(
                    "random_op", info.name, value, info.attrs()))]
            compiled = xla_function(graph)
            if compiled is not None:  # XLA compiles no numpy_function: neither seen nor replayed
                recorder.not_observed("random_op", info.name, compiled, op_type, info.call_site)
                return None
            if replay is not None:
                return [self._replay_in_function(info, output)]
            recorder.observers.observe(
                output, lambda value: recorder.emit("random_op", info.name, value, info.attrs()),
                "random_op", info.name, info.call_site)
        else:
            recorder.graph_state(graph).watch_random_op(info, output)
        return None

    def _replaying(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``original`` (a generated op function), returning A's value when run eagerly."""
        capture = self

        def replaying(*args: Any, **kwargs: Any) -> Any:
            recorder = capture._recorder
            if not recorder.active or not context.executing_eagerly():
                return original(*args, **kwargs)
            local = capture._local
            local.replacing, local.replaced_info = True, None
            try:
                output = original(*args, **kwargs)
            finally:
                local.replacing = False
            info, local.replaced_info = local.replaced_info, None
            if info is None:  # not seen by our callback (e.g. another thread): leave it
                return output
            value = capture._take(info, tuple(output.shape), output.dtype.name, output.numpy)
            if value is None:
                return output
            with tf.device(output.device):
                return tf.constant(value, dtype=output.dtype)

        return replaying

    def _replay_in_function(self, info: RandomOpInfo, output: Any) -> Any:
        """A stateful op standing for ``output`` that yields A's next value per execution.

        It takes ``output`` as input so the random op still runs (its state moves as
        it would without replay).
        """
        dtype = output.dtype

        def take(drawn: Any) -> Any:
            value = self._take(info, np.shape(drawn), dtype.name, lambda: np.asarray(drawn))
            return drawn if value is None else np.asarray(value, dtype=dtype.as_numpy_dtype)

        replaced = tf.numpy_function(take, [output], Tout=dtype, stateful=True,
                                     name="tftrace_replay")
        replaced.set_shape(output.shape)
        return replaced

    def _take(self, info: RandomOpInfo, shape: tuple[int, ...], dtype: str,
              drawn: Callable[[], Any]) -> np.ndarray | None:
        """A's value for this draw, recorded as B's; None (B's own ``drawn()`` value is
        recorded) for an initializer draw A has no match for."""
        recorder = self._recorder
        assert recorder.replay is not None
        taken = recorder.replay.next_random(info, shape, dtype, recorder.step)
        if taken is None:
            recorder.emit("random_op", info.name, drawn(), info.attrs())
            return None
        value, source = taken
        recorder.emit("random_op", info.name, value, info.attrs(replayed_from=source.seq))
        return value


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
