"""A structural digest of a GraphDef: how each value is computed, whatever the nodes are
called, so that two optimized graphs can be compared (the observer-effect check,
neutrality.py)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tensorflow.core.framework import graph_pb2
from tensorflow.python.framework import op_def_registry

#: Ops that pass a value on unchanged.
PASS_THROUGH = frozenset({"Identity", "Snapshot", "StopGradient", "PreventGradient",
                           "PlaceholderWithDefault", "EnsureShape", "CheckNumerics"})
#: Binary ops whose two operands may swap without changing a bit (Grappler orders
#: them by node names, which merging equal constants changes).
_COMMUTATIVE = frozenset({"Add", "AddV2", "Mul", "Maximum", "Minimum", "Equal", "NotEqual",
                          "LogicalAnd", "LogicalOr", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
                          "SquaredDifference"})
#: Ops whose value is their name: two graphs agree on them by name, not by structure.
_SOURCES = frozenset({"Placeholder", "_Arg", "VarHandleOp", "VariableV2", "Variable",
                      "_Recv", "_HostRecv"})


def computation(graph_def: graph_pb2.GraphDef, fetches: Sequence[str]) -> tuple[int, ...]:
    """A structural digest of how each fetch is computed in ``graph_def``.

    Equal digests mean the same ops, with the same attributes, applied to the same
    inputs: the same arithmetic, whatever the nodes are called (a fused node is named
    after the last node it replaces). Node names, devices and control edges do not
    count; values passed on unchanged (``Identity``...) are looked through; a value
    computed from constants alone counts as "a constant" (folded or not, the CPU
    computes it with the same kernel); the operands of a commutative binary op count in
    either order; inputs (placeholders, variables) count by name. Each node's digest is
    a hash of its op, attributes and its inputs' digests (a Merkle hash), so comparing
    two graphs is linear in their size; the two graphs compared are hashed in the same
    process.
    """
    _, digest = _digests(graph_def, fetches)
    return tuple(digest(f) for f in fetches)


def node_digests(graph_def: graph_pb2.GraphDef, fetches: Sequence[str]) -> dict[str, int]:
    """The digest of each node the ``fetches`` need, by node name (:func:`computation`)."""
    memo, _ = _digests(graph_def, fetches)
    return memo


def _digests(graph_def: graph_pb2.GraphDef, fetches: Sequence[str]) -> tuple[dict[str, int], Callable[[str], int]]:
    """Each node's digest (see :func:`computation`), and the digest of a tensor name."""
    nodes = {node.name: node for node in graph_def.node}
    memo: dict[str, int] = {}
    constant: dict[str, bool] = {}

    def digest(tensor: str) -> int:
        name, _, index = tensor.lstrip("^").partition(":")
        node = nodes.get(name)
        if node is None:
            return hash(("missing", name))
        out = int(index or 0)
        if node.op in PASS_THROUGH and node.input and out == 0:
            return digest(node.input[0])
        return hash((memo.get(name, hash(("cycle", name))), out))

    for name in _post_order(nodes, [f.split(":")[0] for f in fetches]):
        node = nodes[name]
        inputs = [i for i in node.input if not i.startswith("^")]
        if node.op == "Const":
            constant[name] = True
        elif node.op in _SOURCES or node.op.startswith("Var") or not inputs:
            constant[name] = False
        else:
            constant[name] = not _stateful(node) and all(
                constant.get(i.split(":")[0], False) for i in inputs)
        if constant[name]:
            memo[name] = hash(("constant", node.attr["dtype"].type if "dtype" in node.attr else None))
            continue
        attrs = tuple(sorted((key, value.SerializeToString(deterministic=True))
                             for key, value in node.attr.items()
                             if not key.startswith("_") and key != "shared_name"))
        identity = name if node.op in _SOURCES or not inputs else None
        operands = tuple(digest(i) for i in inputs)
        if node.op in _COMMUTATIVE and len(operands) == 2:
            operands = tuple(sorted(operands))
        memo[name] = hash((node.op, attrs, identity, operands))
    return memo, digest


def _post_order(nodes: dict[str, Any], roots: Sequence[str]) -> list[str]:
    """Names of ``roots`` and their data inputs, each after its inputs (iterative: graphs
    can be deep; a cycle, as in TF1 loops, is cut where it closes)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in roots:
        if root not in nodes or root in state:
            continue
        stack = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(name)
                continue
            if name in state:
                continue
            state[name] = 1
            stack.append((name, True))
            for i in nodes[name].input:
                if not i.startswith("^"):
                    child = i.split(":")[0]
                    if child in nodes and child not in state:
                        stack.append((child, False))
    return order


def _stateful(node: Any) -> bool:
    try:
        return bool(op_def_registry.get(node.op).is_stateful)
    except AttributeError:  # a function call or an unregistered op: not folded
        return True
