"""Observing values inside a ``tf.function``, without changing what it computes.

During tracing, an endpoint or a random op inside a function (or a control-flow
branch) is only *registered*. When the traced Python function returns (still inside
the graph's automatic-control-dependency scope, so the observers run, in program order,
on every execution), the :class:`~tftrace.recording.neutrality.NeutralityCheck` compares
the graph Grappler makes of it with and without the registered observations; those that
change it are left out and listed as not captured (``observer-effect``), the others get
their observer op (values.py). ``func_graph_from_py_func``, which traces every
``tf.function``, ``cond`` and ``while_loop`` body, is wrapped to see that moment.
"""

from __future__ import annotations

import sys
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import func_graph as func_graph_module
from tensorflow.python.util import tf_decorator

from tftrace.recording.batching import StatisticsDelivery
from tftrace.recording.neutrality import NeutralityCheck
from tftrace.recording.independent import AcdTracker, observe_independently
from tftrace.recording.values import observe_in_function
from tftrace.report.recording import observer_effect_warning
from tftrace.recording.sink import EventSink
from tftrace.recording.summaries import (GraphStatistics, ValueStatistics, summarizable,
                                         value_statistics)

if TYPE_CHECKING:
    from tftrace.recording.gaps import GapList


@dataclass
class Observation:
    """A value to observe in a function graph being traced."""

    tensor: Any
    on_value: Callable[[Any], object]  # an array, or a ValueSummary
    kind: str
    name: str
    call_site: str | None
    grouped: bool = False  # a captured stream: observed independently (independent.py)
    summary: bool = False  # its statistics only, computed in the graph (summaries.py)
    statistics: ValueStatistics | None = None  # its statistics ops in the graph, once made


class FunctionObservers:
    """Registered observations per function graph, and the hook that places them."""

    def __init__(self, sink: EventSink, gaps: GapList) -> None:
        self._sink = sink
        self._gaps = gaps
        self._pending: weakref.WeakKeyDictionary[Any, list[Observation]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._original: Callable[..., Any] | None = None
        self.check = NeutralityCheck()
        #: How the in-graph statistics were computed (summaries.py: ``kernel``, ``reductions``).
        self.statistics_paths: set[str] = set()
        self._acd = AcdTracker()

    def observe(self, tensor: Any, on_value: Callable[[np.ndarray], object], kind: str, name: str,
                call_site: str | None, grouped: bool = False, summary: bool = False) -> None:
        """Observe ``tensor`` (in a function graph being traced) on every execution;
        ``summary``: only its statistics (``on_value`` gets a ``ValueSummary``)."""
        with self._lock:
            self._pending.setdefault(tensor.graph, []).append(
                Observation(tensor, on_value, kind, name, call_site, grouped, summary))

    def install(self) -> None:
        original = func_graph_module.func_graph_from_py_func
        observers = self

        def func_graph_from_py_func(name: Any, python_func: Any, *args: Any, **kwargs: Any) -> Any:
            def traced(*call_args: Any, **call_kwargs: Any) -> Any:
                outputs = python_func(*call_args, **call_kwargs)
                observers._place(tf.compat.v1.get_default_graph(), outputs)
                return outputs

            return original(name, tf_decorator.make_decorator(python_func, traced), *args, **kwargs)

        func_graph_from_py_func.__wrapped__ = original  # type: ignore[attr-defined]
        self._original = original
        func_graph_module.func_graph_from_py_func = func_graph_from_py_func
        self._acd.install()

    def uninstall(self) -> None:
        self._acd.uninstall()
        if self._original is not None:
            func_graph_module.func_graph_from_py_func = self._original
            self._original = None

    def _place(self, graph: Any, outputs: Any) -> None:
        with self._lock:
            pending = self._pending.pop(graph, [])
        if not pending or not self._sink.active:
            return
        returned = [t.name for t in tf.nest.flatten(outputs, expand_composites=True)
                    if isinstance(t, tf.Tensor) and getattr(t, "graph", None) is graph]
        # What the function must compute: its outputs and every stateful op (automatic
        # control dependencies make those run).
        fetches = returned + [op.name for op in graph.get_operations() if op._is_stateful]
        # Statistics are computed by ops added to the graph: the check optimizes the graph
        # with each value's own (they are in it from now on; those of a value left out
        # are pruned), read through a per-value probe.
        statistics = {k: value_statistics(o.tensor) for k, o in enumerate(pending)
                      if o.grouped and o.summary and summarizable(o.tensor)}
        changing = self.check.changing(
            graph, fetches, [o.tensor for o in pending], as_fetches=False,
            probes=[statistics[k].probe if k in statistics else o.tensor for k, o in enumerate(pending)])
        kept = []
        with self._gaps.deferred():  # the list written once, not once per value left out
            for k, observation in enumerate(pending):
                if k in changing:
                    self._gaps.note(
                        observation.kind, observation.name, "observer-effect",
                        f"graph tensor {observation.tensor.name}", function=str(graph.name),
                        call_site=observation.call_site)
                    if not observation.grouped:  # captured streams: the end summary counts them
                        print(observer_effect_warning(observation.kind, observation.name,
                                                      str(graph.name)), file=sys.stderr)
                else:
                    kept.append(observation)
                observation.statistics = statistics.get(k)
        # Observers run in the order they are added (automatic control dependencies chain
        # them): in the order the program computes the values, so events are written so.
        kept.sort(key=lambda o: o.tensor.op._id)
        for observation in kept:
            if not observation.grouped:
                observe_in_function(observation.tensor, observation.on_value)
        captured = [o for o in kept if o.grouped and o.statistics is None]
        if captured:
            observe_independently(graph, [o.tensor for o in captured], [o.on_value for o in captured])
        summarized = [(o, o.statistics) for o in kept if o.statistics is not None]
        if summarized:
            # A few numbers per value, grouped in one vector for the graph, over the kept
            # values' statistics ops only. What runs is what the check optimized: the
            # same per-value ops, read by the grouped ops instead of the probes (which
            # nothing reads any more, and Grappler prunes), and the probes of the values
            # left out pruned with their ops. The grouped ops read only statistics, never
            # a value of the program.
            grouped = GraphStatistics(graph, [ops for _, ops in summarized])
            self.statistics_paths |= grouped.paths
            # The host call: each value's summary to its observation, in program order
            # (batching.py: written by runs where it can).
            observe_independently(graph, [grouped.vector],
                                  [StatisticsDelivery(grouped, [o.on_value for o, _ in summarized])])
