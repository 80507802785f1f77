"""Capture of random ops through TensorFlow's op callbacks.

The callback sees every op: created in a graph, executed eagerly, or created
while a ``tf.function`` is traced. For random ops it builds one description
(op type, seeds, seed order, mode, scope, call site) and hands it to the adapter
of the op's execution model (recording/adapters/), decided once:

* eager (adapters/eager.py): the outputs are values already; recorded now;
* tf.function / control-flow branch (adapters/function.py): observed on every
  execution (observers.py);
* TF1 graph (adapters/session.py): registered with the graph's watch list; the
  Session capture fetches the output in each ``Session.run`` that executes the op anyway.

Under replay (replay.py) the op's output is replaced by run A's value, by the same
adapters: a replacement output in a tf.function, a wrapped generated op function
eagerly, a feed in a Session run.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tensorflow.python.eager import context
from tensorflow.python.framework import op_callbacks

from tftrace.format.events import RandomOpAttrs
from tftrace.recording.callsite import user_call_site
from tftrace.recording.values import is_function_graph, xla_function

if TYPE_CHECKING:
    from tftrace.recording.adapters import Adapters
    from tftrace.recording.gaps import CompiledFunctions
    from tftrace.recording.seeds import SeedControl
    from tftrace.recording.variables import VariableCapture

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
    """The op callback, registered in the recording thread while a recorder is active.

    It describes each random op once and hands it to the adapter of the op's execution
    model (recording/adapters/), which records (or replays) its values.
    """

    def __init__(self, seeds: SeedControl, variables: VariableCapture,
                 compiled: CompiledFunctions, adapters: Adapters) -> None:
        self._seeds = seeds
        self._variables = variables
        self._compiled = compiled
        self._adapters = adapters
        self._local = threading.local()
        self._installed = False
        self._graphs_seen: weakref.WeakSet[Any] = weakref.WeakSet()

    def install(self) -> None:
        op_callbacks.add_op_callback(self._callback)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            op_callbacks.remove_op_callback(self._callback)
            self._installed = False

    def _callback(self, op_type: str, inputs: Any, attrs: Any, outputs: Any,
                  op_name: str | None = None, graph: Any = None) -> Any:
        if graph is not None and graph not in self._graphs_seen and is_function_graph(graph):
            self._graphs_seen.add(graph)
            compiled = xla_function(graph)
            if compiled is not None:
                self._compiled.note(compiled)
        if op_type not in RANDOM_OPS or not outputs or getattr(self._local, "busy", False):
            return None
        self._local.busy = True
        try:
            return self._on_random_op(op_type, attrs, outputs[0], op_name, graph)
        finally:
            self._local.busy = False

    def _on_random_op(self, op_type: str, attrs: Any, output: Any,
                      op_name: str | None, graph: Any) -> Any:
        pending = self._seeds.take_pending() if op_type in STATEFUL_RANDOM_OPS else None
        seed_index = pending[0] if pending else self._seeds.next_index()
        adapter = self._adapters.for_graph(graph)
        if adapter.mode == "eager":
            scope = context.context().scope_name.rstrip("/")
            name = f"{scope}/{op_type}" if scope else op_type
        else:
            scope = op_name.rpartition("/")[0] if op_name else ""
            name = op_name or op_type
        info = RandomOpInfo(op_type=op_type, name=name, seed=_seed_pair(attrs),
                            seed_index=seed_index, mode=adapter.mode, name_scope=scope,
                            op_name=op_name, call_site=user_call_site(2),
                            initializer=self._variables.creating())
        return adapter.random_op(info, output, graph)
