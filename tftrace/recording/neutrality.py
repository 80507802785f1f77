"""The observer effect, and the check that keeps recording result-neutral.

Observing a graph tensor changes the graph TensorFlow optimizes: in a ``tf.function``
the observer is one more consumer of the tensor; in a ``Session.run`` the tensor becomes
one more fetch. Grappler rewrites a tensor only when nothing else needs it as it is: it
folds ``(x * 0.1) * 3.0`` into ``x * 0.3``, fuses ``MatMul``, ``BiasAdd`` and an
activation (oneDNN fuses more), turns chains of adds into one ``AddN``... An observed
intermediate is kept, the rewrite does not happen, and what is computed from it rounds
differently: the observer changes the program's results in the last bits.

So before it observes anything in a graph, tftrace optimizes that graph the way
TensorFlow would, once as the program has it and once with the observations added,
with Grappler itself (``tf_optimizer.OptimizeGraph``, the session's rewrite options,
nodes placed on the CPU). When the two optimized graphs are equal (observer nodes
aside), observing changes nothing TensorFlow runs. When they differ, tftrace finds the
observations responsible (halving the set) and leaves them out: they are listed as not
captured (``observer-effect``) and named on stderr when the recording notes them.

What makes the offline optimization the runtime's: a ``tf.function``'s arguments are
``_Arg`` nodes with their shapes, and a resource argument carries its variable's shape
and dtype (``_handle_shapes``, ``_handle_dtypes``), as the function runtime gives them.
Without them a variable read has no static shape, and Grappler's shape-dependent
rewrites do not happen offline although they do at run time: on Keras 3 MobileNetV2's
training step the arithmetic optimizer folds each residual ``Add`` with the batch
norm's last ``add`` into one ``AddN`` (``AddOpsRewrite``) and ``log(softmax)`` into
``LogSoftmax``; observing those layer outputs stops both rewrites and changed 387 of its
422 variables after two steps, which an offline run on ``Placeholder`` arguments did not
show.

What is added is what is checked: an observer op reads either the value itself or, at
level ``stats``, a small vector of statistics computed from it by ops added to the graph
(summaries.py); those ops are part of the graph the check optimizes (``probes``). And
the runtime stops Grappler at a deadline (``meta_optimizer_timeout_ms``, 5 minutes by
default), skipping whatever rewrites remain, while the offline optimization has none: a
graph whose observations make it too slow to optimize (Keras 3 MobileNetV2's training
step with a ``cond`` per observed op output: 103k nodes, about 350 s on two loaded
cores; 14 variables differed after 2 steps) is not observed whole: of statistics, the
first values in program order that fit are kept, verified by one more optimization.

Finding the observations responsible: the optimized graph with every observation is
compared with the plain one once; when they differ, the suspects are the observed
values whose op the plain optimization rewrote away (absent, or replaced by another
op) but the observed one kept as it is; the others are checked together. When they
still change the graph, the two optimized graphs show where: the first nodes computed
differently (their inputs computed alike, themselves not) name the observations they
read; those are tried as the culprits in one more optimization, and only when that
guess is wrong is the set halved (each optimization of a large training step takes
seconds). Then each suspect, in program order, is admitted if it changes nothing
beside those admitted (more than ``MAX_ADMISSIONS`` suspects are all left out).

Statistics ops add 7 to 9 nodes a value with TensorFlow's reductions (one with the
statistics kernel, summaries.py), and Grappler takes 4-8 times as long over the
reductions' as over the plain graph; the values alone (one ``Identity`` each) take about the
plain graph's time. So the search above runs with the values alone, and what it admits
is optimized once with its statistics (the graph the runtime optimizes, timed against
the deadline): equal to the plain one, done (the guarantee is that optimization's);
different, the search runs again on them with their statistics. A function traced
again (a step that creates variables on its first trace is traced twice) is first
optimized without what its last trace left out: if the rest changes nothing, that is
the answer (those are left out unproven, which is safe), else the search runs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tensorflow.core.framework import graph_pb2, tensor_shape_pb2
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
from tensorflow.python.eager import context
from tensorflow.python.grappler import tf_optimizer
from tensorflow.python.ops import handle_data_util

from tftrace.recording.culprits import PROBE_PREFIX, culprits, guessed, kept_apart, needed
from tftrace.recording.graph_digest import computation

#: Suspects checked one by one at most (each costs one optimization of the graph);
#: beyond, every suspect is left out (listed as not captured).
MAX_ADMISSIONS = 32
#: Share of Grappler's run-time deadline beyond which an offline optimization with the
#: observations counts as too slow (the runtime may run slower: a loaded machine).
DEADLINE_SHARE = 0.5
#: When the statistics of every observation are too slow to optimize, the first in
#: program order are kept whose estimated cost fits this part of that share.
FIT_SHARE = 0.6
#: Where nodes without a device are placed for the check (the remapper fuses only
#: nodes placed on a CPU).
CPU = "/job:localhost/replica:0/task:0/device:CPU:0"


@dataclass
class CheckStats:
    """What the checks did during one recording (the environment's ``observer_check``)."""

    graphs: int = 0
    observations: int = 0
    left_out: int = 0
    too_slow: int = 0  # graphs with observations left out for Grappler's deadline
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"graphs_checked": self.graphs, "observations_checked": self.observations,
                "observations_left_out": self.left_out, "graphs_near_deadline": self.too_slow,
                "errors": list(self.errors[:20])}


class TooSlow(Exception):
    """Optimizing a graph with its observations came near Grappler's run-time deadline."""

    def __init__(self, seconds: float, deadline: float, kept: tuple[int, int] | None = None) -> None:
        self.seconds = seconds
        self.deadline = deadline
        self.kept = kept  # (observations kept, of how many) when only some were dropped
        message = (f"optimizing with the observations took {seconds:.0f} s, more than "
                   f"{DEADLINE_SHARE:.0%} of Grappler's {deadline:.0f} s deadline")
        if kept is not None:
            message += f": kept the first {kept[0]} of {kept[1]} in program order"
        super().__init__(message)


def grappler_deadline() -> float | None:
    """Seconds the runtime gives Grappler per graph (``meta_optimizer_timeout_ms``: 0 is
    TensorFlow's default, 5 minutes; negative: none), or None."""
    timeout_ms = context.context().config.graph_options.rewrite_options.meta_optimizer_timeout_ms
    if timeout_ms < 0:
        return None
    return 300.0 if timeout_ms == 0 else timeout_ms / 1000


class NeutralityCheck:
    """Decides which observations of a graph leave its optimized form unchanged."""

    def __init__(self) -> None:
        self.stats = CheckStats()
        self._lock = threading.Lock()
        # Per function name and observed values (op type, dtype, shape, in order: a
        # retrace renames scopes, sgd/ to sgd_1/), the positions the last check left out:
        # a function traced again (TensorFlow retraces a step that created variables) is
        # first tried without them (an optimization that verifies the hint).
        self._left_out: dict[tuple[Any, ...], frozenset[int]] = {}

    def changing(self, graph: Any, fetches: Sequence[str], observed: Sequence[Any], *,
                 as_fetches: bool, probes: Sequence[Any] | None = None) -> set[int]:
        """Indices of the ``observed`` graph tensors whose observation changes the graph
        Grappler makes of ``graph`` (a ``tf.Graph`` or a function graph) for ``fetches``
        (op or tensor names).

        ``as_fetches``: the observations are extra fetches (a Session run); else each is
        an extra consumer (a ``tf.function``'s observer op). ``probes``: per observation,
        the tensor the observer op actually reads, already in ``graph`` (the statistics
        vector computed from the observed value, summaries.py); None: the value itself.
        The check then optimizes the graph with what the recording adds, statistics ops
        included. If the check itself fails, nothing is left out and the error is counted
        in :attr:`stats`.
        """
        probes = list(observed) if probes is None else list(probes)
        # A stateful op's output (a random op, a variable read) is never folded, fused or
        # merged away: keeping it as it is changes nothing. Only the others need Grappler,
        # and so do ops added to read it (statistics), which Grappler may rewrite too.
        candidates = [k for k, t in enumerate(observed)
                      if not t.op._is_stateful or probes[k] is not t]
        if not candidates:
            return set()
        indices = {position: k for position, k in enumerate(candidates)}
        probes = [probes[k] for k in candidates]
        observed = [observed[k] for k in candidates]
        with self._lock:
            self.stats.graphs += 1
            self.stats.observations += len(observed)
        slow: list[TooSlow] = []
        key = (str(getattr(graph, "name", "")), as_fetches,
               tuple((t.op.type, t.dtype.name, str(t.shape)) for t in observed))
        with self._lock:
            hint = sorted(self._left_out.get(key, frozenset()))
        try:
            found = {indices[k] for k in _changing(_prepared(graph, as_fetches), list(fetches),
                                                   observed, as_fetches, probes, slow.append, hint)}
        except TooSlow as too_slow:
            with self._lock:
                self.stats.too_slow += 1
                self.stats.left_out += len(candidates)
                self.stats.errors.append(str(too_slow))
            return set(candidates)
        except Exception as exc:  # noqa: BLE001 - the check must never break the program
            with self._lock:
                self.stats.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            return set()
        with self._lock:
            self.stats.left_out += len(found)
            if len(self._left_out) >= 64:
                self._left_out.clear()
            self._left_out[key] = frozenset(k for k in range(len(observed)) if indices[k] in found)
            if slow:  # some observations were dropped for the deadline, the rest kept
                self.stats.too_slow += 1
                self.stats.errors.append(str(slow[0]))
        return found


def _changing(placed: graph_pb2.GraphDef, fetches: list[str], observed: Sequence[Any],
              as_fetches: bool, probes: Sequence[Any],
              near_deadline: Callable[[TooSlow], None], hint: Sequence[int] = ()) -> set[int]:
    """The observations (indices into ``observed``, each read through ``probes``) that
    change what Grappler makes of ``placed``.

    Observations read through statistics ops are first searched with the values read
    alone (one ``Identity`` each: Grappler optimizes that in about the plain graph's
    time, where the statistics add 7 to 9 nodes a value), then the rest are verified
    once with their statistics, the graph the runtime will optimize; only if that differs
    are they searched again with the statistics.

    When that optimization comes near Grappler's deadline, the first of them in program
    order that fit are kept (one more optimization, timed, verifies them) and the others
    left out; ``near_deadline`` is told. If even those do not fit, :class:`TooSlow`."""
    started = time.perf_counter()
    plain_graph = _optimize(placed, fetches)
    plain_seconds = time.perf_counter() - started
    statistics = not as_fetches and any(p is not t for p, t in zip(probes, observed))
    if not statistics:
        return _search(placed, fetches, observed, probes, as_fetches, plain_graph, timed=True,
                       hint=hint)
    found = _search(placed, fetches, observed, observed, as_fetches, plain_graph, timed=False,
                    hint=hint)
    admitted = [k for k in range(len(observed)) if k not in found]
    if not admitted:
        return found
    try:
        again = _search(placed, fetches, [observed[k] for k in admitted],
                        [probes[k] for k in admitted], as_fetches, plain_graph, timed=True)
    except TooSlow as slow:
        # The statistics' cost grows with their number: keep the first that fit well
        # within the share (a margin for the estimate), if any.
        per_value = max(slow.seconds - plain_seconds, 1e-9) / len(admitted)
        fit = int((FIT_SHARE * slow.deadline * DEADLINE_SHARE - plain_seconds) / per_value)
        if fit < 1:
            raise
        total = len(admitted)
        admitted = sorted(admitted, key=lambda k: observed[k].op._id)
        found |= set(admitted[fit:])
        admitted = admitted[:fit]
        again = _search(placed, fetches, [observed[k] for k in admitted],
                        [probes[k] for k in admitted], as_fetches, plain_graph, timed=True)
        near_deadline(TooSlow(slow.seconds, slow.deadline, (len(admitted), total)))
    return found | {admitted[k] for k in again}


def _search(placed: graph_pb2.GraphDef, fetches: list[str], observed: Sequence[Any],
            probes: Sequence[Any], as_fetches: bool, plain_graph: graph_pb2.GraphDef, *,
            timed: bool, hint: Sequence[int] = ()) -> set[int]:
    """The observations that change ``plain_graph`` (``placed`` optimized): the ``hint``
    (those left out of the same function's last trace) if the rest change nothing, else
    suspects first (see the module docstring), then the halving search. ``timed``:
    optimizing with every observation near Grappler's deadline raises :class:`TooSlow`."""
    plain = computation(plain_graph, fetches)

    def optimized_with(indices: Sequence[int]) -> graph_pb2.GraphDef:
        probe_graph, probe_fetches = _with_probes(placed, [probes[i] for i in indices], as_fetches)
        return _optimize(probe_graph, fetches, probe_fetches)

    everything = list(range(len(observed)))
    started = time.perf_counter()
    observed_graph = optimized_with(everything)
    deadline = grappler_deadline()
    if timed and deadline is not None and time.perf_counter() - started > deadline * DEADLINE_SHARE:
        # The runtime stops Grappler at its deadline, wherever it is: the rewrites not
        # done yet are not done at all (the offline optimization has no deadline). So
        # close to it, no observation is sure to be neutral: none is made.
        raise TooSlow(time.perf_counter() - started, deadline)
    if computation(observed_graph, fetches) == plain:
        return set()
    if hint and computation(optimized_with([i for i in everything if i not in set(hint)]),
                            fetches) == plain:
        return set(hint)  # left out unproven here: safe, and listed
    suspects = kept_apart(plain_graph, observed_graph, observed, needed(placed, fetches))
    admitted = [i for i in everything if i not in suspects]
    found: set[int] = set()
    rest_graph = observed_graph if not suspects else optimized_with(admitted) if admitted else None
    if rest_graph is not None and computation(rest_graph, fetches) != plain:
        def changes(chosen: Sequence[int]) -> bool:
            return computation(optimized_with(chosen), fetches) != plain
        guess = guessed(admitted, rest_graph, plain_graph, observed, fetches, optimized_with)
        found = culprits(admitted, changes) if guess is None else guess
        admitted = [i for i in admitted if i not in found]
    # A suspect may only look kept apart because another observation stopped the rewrite
    # (observing a batch norm's output keeps its Relu unfused too): each is admitted, in
    # program order, if it changes nothing beside those already admitted.
    if len(suspects) > MAX_ADMISSIONS:  # one optimization each: too many, leave them all out
        return found | set(suspects)
    for k in sorted(suspects, key=lambda k: observed[k].op._id):
        if computation(optimized_with(admitted + [k]), fetches) == plain:
            admitted.append(k)
        else:
            found.add(k)
    return found


def _prepared(graph: Any, as_fetches: bool) -> graph_pb2.GraphDef:
    """``graph`` as the runtime optimizes it: every node placed (the remapper fuses only
    nodes placed on a CPU); a function graph's arguments as ``_Arg`` nodes with their
    shapes and, for a resource, its variable's shape and dtype."""
    placed = graph.as_graph_def()
    handles = {}
    if not as_fetches:  # a function graph: its placeholders are its arguments
        for op in graph.get_operations():
            if op.type == "Placeholder" and op.outputs[0].dtype.name == "resource":
                data = handle_data_util.get_resource_handle_data(op.outputs[0])
                if data is not None and data.shape_and_type:
                    handles[op.name] = data.shape_and_type
    index = 0
    sources = []
    for node in placed.node:
        if node.name in handles:
            node.op = "_Arg"
            dtype = node.attr["dtype"].type
            node.ClearField("attr")
            node.attr["T"].type = dtype
            node.attr["index"].i = index
            index += 1
            for shape_and_type in handles[node.name]:
                node.attr["_handle_dtypes"].list.type.append(shape_and_type.dtype)
                node.attr["_handle_shapes"].list.shape.add().CopyFrom(shape_and_type.shape)
        elif not as_fetches and node.op == "Placeholder" and not node.attr["shape"].shape.unknown_rank:
            # Grappler takes a placeholder's shape as unknown (it may be fed another), the
            # runtime knows a function argument's: the argument's shape is pinned after it.
            sources.append(node.name)
            source = f"{node.name}/{PROBE_PREFIX}_source"
            dtype = node.attr["dtype"].type
            shape = tensor_shape_pb2.TensorShapeProto()
            shape.CopyFrom(node.attr["shape"].shape)
            node.op = "EnsureShape"
            node.ClearField("attr")
            node.attr["T"].type = dtype
            node.attr["shape"].shape.CopyFrom(shape)
            node.input.append(source)
        if not node.device:
            node.device = CPU
    pinned = {node.name: node for node in placed.node if node.name in set(sources)}
    for name in sources:
        source_node = placed.node.add(name=f"{name}/{PROBE_PREFIX}_source", op="Placeholder", device=CPU)
        source_node.attr["dtype"].type = pinned[name].attr["T"].type
        source_node.attr["shape"].shape.CopyFrom(pinned[name].attr["shape"].shape)
    return placed


def _with_probes(graph_def: graph_pb2.GraphDef, observed: Sequence[Any],
                 as_fetches: bool) -> tuple[graph_pb2.GraphDef, list[str]]:
    """``graph_def`` with the observations added: as fetches, or as consumers (an
    ``Identity`` per tensor, fetched, as tftrace's observer op is kept by the function)."""
    if as_fetches:
        return graph_def, [t.name for t in observed]
    probed = graph_pb2.GraphDef()
    probed.CopyFrom(graph_def)
    names = []
    for k, tensor in enumerate(observed):
        source = tensor.op.name if tensor.value_index == 0 else tensor.name
        node = probed.node.add(name=f"{PROBE_PREFIX}_{k}", op="Identity", input=[source],
                               device=CPU)
        node.attr["T"].type = tensor.dtype.as_datatype_enum
        names.append(node.name)
    return probed, names


def _optimize(graph_def: graph_pb2.GraphDef, fetches: list[str],
              observations: Sequence[str] = ()) -> graph_pb2.GraphDef:
    """What Grappler makes of ``graph_def`` for the program's ``fetches`` (and the
    ``observations``, fetched too), with the recording process's session options."""
    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    meta.collection_def["train_op"].node_list.value.extend(list(fetches) + list(observations))
    config = config_pb2.ConfigProto()
    config.CopyFrom(context.context().config)
    return tf_optimizer.OptimizeGraph(config, meta, graph_id=b"tftrace")
