"""The TF1 adapter: values of graph tensors, fetched by the user's own Session runs.

Every graph the recorder sees has a :class:`GraphState` holding *watches*: a
random op's output, a variable's initial value, an endpoint tensor. Before each
``Session.run`` the adapter computes which ops that run executes anyway (the
ancestors of its fetches and targets through data and control edges, stopping at
fed tensors) and adds to the fetches exactly the watched tensors whose op is among
them. So recording never evaluates anything extra, never runs a stateful op the
user did not run, and never adds an op to the user's graph (which would move
graph-level seeds in old TensorFlow and change the user's GraphDef).

Within one run the values are recorded in seed order for random ops, then
variables in creation order, then endpoints in registration order.

Under replay the same plan says what to feed: each random op this run executes
gets run A's value for it, and each variable it initializes A's initial value,
fed to the op's output and to the variable's ``initial_value``. Feeding needs no
change to the graph, and the fetched values are the fed ones, so the trace holds
what B consumed.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import tensorflow as tf
from tensorflow.python.client import session as session_lib

from tftrace.format.events import EndpointAttrs
from tftrace.recording.patches import Patches
from tftrace.recording.random_ops import RandomOpInfo
from tftrace.recording.sink import EventSink
from tftrace.recording.variables import VariableCapture, VariableInfo

if TYPE_CHECKING:
    from tftrace.recording.neutrality import NeutralityCheck
    from tftrace.recording.replay import ReplaySource

_ASSIGN_OPS = frozenset({"Assign", "AssignVariableOp"})
_KIND_ORDER = {"random_op": 0, "variable": 1, "endpoint": 2, "layer": 2, "op": 2, "gradient": 2,
               "optimizer": 2}
#: Kinds written in the order the run computes them (graph creation order is a topological one).
_DATAFLOW_KINDS = frozenset({"endpoint", "layer", "op", "gradient", "optimizer"})


@dataclass
class Watch:
    """A graph tensor whose value is recorded by the runs that compute it anyway."""

    kind: str
    order: int
    tensor: Any
    trigger: str  # name of the op whose execution makes the tensor free
    deliver: Callable[..., object]  # (value, **extra_attrs)
    once: bool = False
    info: Any = None  # the RandomOpInfo or VariableInfo behind a random_op or variable watch
    name: str = ""  # an endpoint's name
    call_site: str | None = None
    delivered: int = 0  # runs that recorded it
    left_out: bool = False  # its fetch would change what a run computes (observer effect)

    def sort_key(self) -> tuple[int, int]:
        if self.kind in _DATAFLOW_KINDS:
            return (_KIND_ORDER[self.kind], self.tensor.op._id)
        return (_KIND_ORDER[self.kind], self.order)


class GraphState:
    """What the recorder watches in one TF1 graph."""

    def __init__(self, sink: EventSink, graph: Any, variables: VariableCapture,
                 check: NeutralityCheck,
                 observer_effect: Callable[[list[Watch]], None]) -> None:
        self._sink = sink
        self._variables = variables
        self._check = check
        self._observer_effect = observer_effect
        self._graph_ref = weakref.ref(graph)
        self._lock = threading.Lock()
        self.watches: list[Watch] = []
        self.pending_variables: dict[str, VariableInfo] = {}  # variable op name -> info
        self.runs = 0
        self.session: weakref.ReferenceType[Any] | None = None
        self._endpoint_count = 0
        self._plan_cache: dict[Any, set[str] | None] = {}
        self._neutral_cache: dict[Any, frozenset[str]] = {}

    def watch_random_op(self, info: RandomOpInfo, output: Any) -> None:
        self._add(Watch("random_op", info.seed_index, output, output.op.name,
                        lambda value, **extra: self._sink.emit(
                            "random_op", info.name, value, info.attrs(**extra)),
                        info=info))

    def watch_variable(self, info: VariableInfo) -> None:
        variable = info.variable
        initializer = getattr(variable, "initializer", None)
        initial_value = getattr(variable, "initial_value", None)
        with self._lock:
            self.pending_variables[variable.op.name] = info
        if initializer is None or initial_value is None:
            return

        def deliver(value: Any, **extra: Any) -> None:
            self._variables.record(info, value)
            with self._lock:
                self.pending_variables.pop(variable.op.name, None)

        self._add(Watch("variable", info.creation_index, initial_value, initializer.name,
                        deliver, once=True, info=info))

    def watch_endpoint(self, name: str, tensor: Any, attrs: EndpointAttrs) -> None:
        with self._lock:
            order = self._endpoint_count
            self._endpoint_count += 1
        self._add(Watch("endpoint", order, tensor, tensor.op.name,
                        lambda value, **extra: self._sink.emit("endpoint", name, value, attrs),
                        name=name, call_site=attrs.call_site))

    def watch_value(self, kind: str, name: str, tensor: Any, on_value: Callable[[Any], object]) -> None:
        """A captured stream's graph tensor (layer, op, gradient, optimizer), per run."""
        self._add(Watch(kind, 0, tensor, tensor.op.name, lambda value, **extra: on_value(value),
                        name=name))

    def _add(self, watch: Watch) -> None:
        with self._lock:
            self.watches.append(watch)

    def executed_ops(self, fetches: Any, feed_dict: Any) -> set[str] | None:
        """Names of the ops a run with these fetches and feeds executes, or None if unsure."""
        graph = self._graph_ref()
        if graph is None:
            return None
        try:
            fetch_elements = [graph.as_graph_element(e, allow_tensor=True, allow_operation=True)
                              for e in tf.nest.flatten(fetches, expand_composites=True)]
            fed = {graph.as_graph_element(k, allow_tensor=True, allow_operation=False).name
                   for k in tf.nest.flatten(list((feed_dict or {}).keys()), expand_composites=True)}
        except (TypeError, ValueError, KeyError, AttributeError):
            return None  # something we cannot resolve: fetch nothing extra
        key = (graph.version, tuple(e.name for e in fetch_elements), tuple(sorted(fed)))
        if key not in self._plan_cache:
            self._plan_cache[key] = _ancestors(fetch_elements, fed)
        return self._plan_cache[key]

    def plan(self, fetches: Any, feed_dict: Any) -> tuple[list[Watch], list[VariableInfo]]:
        """The watches free to fetch in this run, and variables it restores (assigns)."""
        if not self.watches and not self.pending_variables:
            return [], []
        executed = self.executed_ops(fetches, feed_dict)
        if not executed:
            return [], []
        fed = {getattr(k, "name", k) for k in (feed_dict or {})}
        graph = self._graph_ref()
        if graph is None:
            return [], []
        with self._lock:
            free = [w for w in self.watches if w.trigger in executed
                    and w.tensor.op.name in executed and w.tensor.name not in fed
                    and _fetchable(graph, w.tensor)]
        free = self._neutral(graph, free, fetches, fed)
        with self._lock:
            initialized = {w.tensor.name for w in free if w.kind == "variable"}
            restored = []
            if self.pending_variables:
                for op in (graph.get_operation_by_name(n) for n in executed):
                    if op.type in _ASSIGN_OPS and op.inputs and \
                            op.inputs[0].op.name in self.pending_variables:
                        info = self.pending_variables[op.inputs[0].op.name]
                        if info.variable.initial_value.name not in initialized:
                            restored.append(info)
        return free, restored

    def _neutral(self, graph: Any, free: list[Watch], fetches: Any, fed: set[str]) -> list[Watch]:
        """``free`` without the watches whose fetch would change what Grappler makes of
        this run (neutrality.py); those are listed as not captured, once."""
        if not free:
            return free
        try:
            names = tuple(graph.as_graph_element(e, allow_tensor=True, allow_operation=True).name
                          for e in tf.nest.flatten(fetches, expand_composites=True))
        except (TypeError, ValueError, KeyError, AttributeError):
            return []
        key = (graph.version, names, tuple(sorted(fed)), tuple(w.tensor.name for w in free))
        left_out = self._neutral_cache.get(key)
        if left_out is None:
            changing = self._check.changing(graph, list(names),
                                      [w.tensor for w in free], as_fetches=True)
            left_out = frozenset(free[k].tensor.name for k in changing)
            self._neutral_cache[key] = left_out
            if changing:
                self._observer_effect([free[k] for k in sorted(changing)])
        return [w for w in free if w.tensor.name not in left_out]

    def never_recorded_endpoints(self) -> list[tuple[Watch, bool]]:
        """Endpoint watches no run recorded, each with whether a run could fetch it at all."""
        graph = self._graph_ref()
        with self._lock:
            return [(w, graph is not None and _fetchable(graph, w.tensor)) for w in self.watches
                    if w.kind == "endpoint" and not w.delivered and not w.left_out]

    def delivered(self, watches: list[Watch]) -> None:
        once = [w for w in watches if w.once]
        if once:
            with self._lock:
                self.watches = [w for w in self.watches if not any(w is o for o in once)]


def _fetchable(graph: Any, tensor: Any) -> bool:
    op = tensor.op
    # Inside TF1 control flow a tensor may be dead in this run: fetching it would fail.
    return graph.is_fetchable(tensor) and getattr(op, "_control_flow_context", None) is None


def _ancestors(fetch_elements: list[Any], fed: set[str]) -> set[str]:
    executed: set[str] = set()
    stack = []
    for element in fetch_elements:
        if isinstance(element, tf.Operation):
            stack.append(element)
        elif element.name not in fed:
            stack.append(element.op)
    while stack:
        op = stack.pop()
        if op.name in executed:
            continue
        executed.add(op.name)
        stack.extend(t.op for t in op.inputs if t.name not in fed)
        stack.extend(op.control_inputs)
    return executed


class SessionCapture:
    """Wraps ``BaseSession.run`` while installed."""

    def __init__(self, sink: EventSink, graph_state: Callable[[Any], GraphState],
                 variables: VariableCapture, replay: ReplaySource | None) -> None:
        self._sink = sink
        self._graph_state = graph_state
        self._variables = variables
        self._replay = replay
        self._original: Callable[..., Any] | None = None
        self._patches = Patches()

    def install(self) -> None:
        capture = self

        def run(session: Any, fetches: Any, feed_dict: Any = None, options: Any = None,
                run_metadata: Any = None) -> Any:
            return capture._run(session, fetches, feed_dict, options, run_metadata)

        run.__doc__ = session_lib.BaseSession.run.__doc__
        self._original = self._patches.patch(session_lib.BaseSession, "run", run)

    def uninstall(self) -> None:
        self._patches.restore()
        self._original = None

    def read(self, session: Any, tensors: list[Any]) -> list[Any]:
        """Run ``tensors`` in ``session`` without recording (read-only fetches)."""
        original = self._original or session_lib.BaseSession.run
        return original(session, tensors)

    def _run(self, session: Any, fetches: Any, feed_dict: Any, options: Any,
             run_metadata: Any) -> Any:
        original = self._original
        assert original is not None
        state = self._graph_state(session.graph) if self._sink.active else None
        if state is None:
            return original(session, fetches, feed_dict, options, run_metadata)
        state.session = weakref.ref(session)
        free, restored = state.plan(fetches, feed_dict)
        replayed: dict[int, dict[str, Any]] = {}
        if self._replay is not None and free:
            feeds, replayed = _replay_feeds(self._replay, self._sink.step, free)
            if feeds:
                feed_dict = {**(feed_dict or {}), **feeds}
        if not free:
            result = original(session, fetches, feed_dict, options, run_metadata)
            extra: list[Any] = []
        else:
            result, extra = original(session, (fetches, [w.tensor for w in free]), feed_dict,
                                     options, run_metadata)
        state.runs += 1
        for watch, value in sorted(zip(free, extra), key=lambda pair: pair[0].sort_key()):
            watch.deliver(value, **replayed.get(id(watch), {}))
            watch.delivered += 1
        state.delivered(free)
        if restored:
            values = self.read(session, [info.variable._as_graph_element() for info in restored])
            for info, value in zip(restored, values):
                self._variables.record(info, value)
                state.pending_variables.pop(info.variable.op.name, None)
        return result


def _replay_feeds(replay: ReplaySource, step: int,
                  free: list[Watch]) -> tuple[dict[Any, Any], dict[int, dict[str, Any]]]:
    """Run A's values for the random ops and initializers of this run, as feeds."""
    feeds: dict[Any, Any] = {}
    extra: dict[int, dict[str, Any]] = {}
    if replay.random:
        randoms = sorted((w for w in free if w.kind == "random_op"), key=Watch.sort_key)
        requests = [(w.info, tuple(w.tensor.shape.as_list()) if w.tensor.shape.rank is not None
                     else None, w.tensor.dtype.base_dtype.name) for w in randoms]
        for watch, taken in zip(randoms, replay.session_random(requests, step)):
            if taken is not None:  # None: an initializer draw A has no match for
                feeds[watch.tensor] = taken[0]
                extra[id(watch)] = {"replayed_from": taken[1].seq}
    for watch in free:
        if watch.kind == "variable" and watch.info.replay_value is not None:
            feeds[watch.tensor] = watch.info.replay_value
    return feeds, extra
