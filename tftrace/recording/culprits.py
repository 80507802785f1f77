"""Finding the observations that change what Grappler makes of a graph (the
observer-effect check's search, neutrality.py): read off the optimized graphs where
they can be, by halving where they cannot."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tensorflow.core.framework import graph_pb2

from tftrace.recording.graph_digest import PASS_THROUGH, computation, node_digests
from tftrace.recording.summaries import SUMMARY_SCOPE

#: Observer nodes in the copy that is optimized (never in the user's graph).
PROBE_PREFIX = "tftrace_probe"
#: Rounds of reading the culprits off the optimized graphs before halving instead, and
#: the largest guess then halved to keep the innocent ones (larger: left out whole).
GUESS_ROUNDS = 4
GUESS_HALVED = 8


def kept_apart(plain: graph_pb2.GraphDef, observed_graph: graph_pb2.GraphDef,
               observed: Sequence[Any], needed: set[str]) -> list[int]:
    """Observed values the program needs whose op the plain optimization rewrote away
    (gone, or another op under its name) and the observed optimization kept as the
    program wrote it. (A value the program does not need is pruned from the plain graph:
    observing it costs time, and changes nothing it computes.)"""
    plain_ops = {node.name: node.op for node in plain.node}
    observed_ops = {node.name: node.op for node in observed_graph.node}
    out = []
    for k, tensor in enumerate(observed):
        op = tensor.op
        if op.type in PASS_THROUGH or op.name not in needed:
            continue
        if plain_ops.get(op.name) != op.type and observed_ops.get(op.name) == op.type:
            out.append(k)
    return out


def guessed(admitted: list[int], observed_graph: graph_pb2.GraphDef, plain: graph_pb2.GraphDef,
            observed: Sequence[Any], fetches: list[str],
            optimized_with: Callable[[Sequence[int]], graph_pb2.GraphDef]) -> set[int] | None:
    """The culprits among ``admitted`` read off where the optimized graphs differ, or None.

    Each round takes the observations read where the graph optimized with the rest first
    differs from the plain one, and optimizes again without them (a rewrite can hide
    below another one: rounds peel them). The guess, once the rest changes nothing, is
    halved when small; a large one is left out whole (each halving step is an
    optimization). None when the rounds do not settle it."""
    plain_digest = computation(plain, fetches)
    guess: set[int] = set()
    graph = observed_graph
    for _ in range(GUESS_ROUNDS):
        new = set(read_where_changed(plain, graph, observed, fetches)) & set(admitted) - guess
        if not new:
            return None
        guess |= new
        rest = [i for i in admitted if i not in guess]
        graph = optimized_with(rest)
        if computation(graph, fetches) == plain_digest:
            if len(guess) > GUESS_HALVED:
                return guess
            return culprits(sorted(guess), lambda chosen: computation(
                optimized_with(rest + list(chosen)), fetches) != plain_digest)
    return None


def read_where_changed(plain: graph_pb2.GraphDef, observed_graph: graph_pb2.GraphDef,
                       observed: Sequence[Any], fetches: Sequence[str]) -> list[int]:
    """Observations that the first differently computed nodes of ``observed_graph`` read.

    A node is computed differently when no node of ``plain`` has its digest (same ops on
    the same inputs, :func:`computation`); the first such nodes are those whose inputs are
    all computed alike. An observation stops a rewrite where its value is read, so its
    tensor is the node itself or one of that node's inputs."""
    probes = [f"{PROBE_PREFIX}_{k}" for k in range(len(observed))]
    plain_digests = set(node_digests(plain, fetches).values())
    digests = node_digests(observed_graph, list(fetches) + probes)
    nodes = {node.name: node for node in observed_graph.node}

    def source(tensor: str) -> str:  # the node a value comes from, past pass-throughs
        name = tensor.lstrip("^").split(":")[0]
        while name in nodes and nodes[name].op in PASS_THROUGH and nodes[name].input:
            name = nodes[name].input[0].lstrip("^").split(":")[0]
        return name

    names: set[str] = set()
    for name, digest in digests.items():
        node = nodes[name]
        if (digest in plain_digests or name.startswith(PROBE_PREFIX) or SUMMARY_SCOPE in name
                or node.op in PASS_THROUGH):
            continue
        inputs = [source(i) for i in node.input if not i.startswith("^")]
        if all(digests.get(i) in plain_digests for i in inputs):
            names.add(name)
            names.update(inputs)
    return [k for k, tensor in enumerate(observed)
            if tensor.op.name in names or source(tensor.op.name) in names]


def culprits(indices: list[int], changes: Callable[[Sequence[int]], bool]) -> set[int]:
    """The observations whose presence changes the optimized graph, by halving the set
    (an effect only a combination has leaves the whole combination out)."""
    if not indices or not changes(indices):
        return set()
    if len(indices) == 1:
        return set(indices)
    half = len(indices) // 2
    found = culprits(indices[:half], changes) | culprits(indices[half:], changes)
    return found or set(indices)


def needed(graph_def: graph_pb2.GraphDef, fetches: Sequence[str]) -> set[str]:
    """Names of the nodes the ``fetches`` depend on (data or control), fetches included."""
    inputs = {node.name: node.input for node in graph_def.node}
    needed: set[str] = set()
    stack = [f.split(":")[0] for f in fetches]
    while stack:
        name = stack.pop()
        if name in needed or name not in inputs:
            continue
        needed.add(name)
        stack.extend(i.lstrip("^").split(":")[0] for i in inputs[name])
    return needed
