"""Op capture: every op's floating-point outputs, as ``op`` events with their dataflow edges.

One op callback (``tensorflow.python.framework.op_callbacks``, as tfdbg2 uses) sees every
op: executed eagerly (its outputs are recorded now), or created in a graph, a TF1 graph
or a ``tf.function`` being traced (its outputs are watched: fetched by the ``Session.run``
calls that compute them anyway, or observed on every execution of the function; nothing
is added to an XLA-compiled function, whose ops are listed as not captured).

Each event carries the op type, the layer being called when the op was made, the name
scope, the op's non-tensor attributes (epsilon, padding, strides, data_format...,
normalized the same way in every mode: floats as float32, types by name), and per input
the sequence number of the event that recorded the value it consumed (-1 when none did)
with the producer's name. Variable reads are not observed (observing them inside a
``tf.function`` orders them against the updates and changes results); an input that is
a variable is named ``variable:<name>``.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2
from tensorflow.python.eager import context
from tensorflow.python.framework import op_callbacks, op_def_registry

from tftrace.format.events import EventKind, OpAttrs
from tftrace.recording.batching import PreparedOnValue
from tftrace.recording.capture.sink import CaptureLevels, CaptureSink, deliver, mode_of
from tftrace.recording.summaries import is_building
from tftrace.recording.values import is_function_graph, xla_function

#: Ops never recorded: no value of their own, control flow, variable plumbing, observers.
SKIP_TYPES = frozenset({
    "Const", "Placeholder", "PlaceholderWithDefault", "NoOp", "Identity", "IdentityN",
    "Snapshot", "StopGradient", "VarHandleOp", "VariableV2", "ReadVariableOp", "VarIsInitializedOp",
    "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "Assign", "AssignAdd",
    "AssignSub", "Enter", "Exit", "If", "StatelessIf", "While", "StatelessWhile", "Merge",
    "Switch", "NextIteration", "LoopCond", "StatefulPartitionedCall", "PartitionedCall",
    "EagerPyFunc", "PyFunc", "PyFuncStateless", "PrintV2", "StringFormat", "DebugIdentityV2",
    "DebugNumericSummaryV2", "Fingerprint", "_Arg", "_Retval", "ZerosLike", "OnesLike", "Fill",
})
#: Ops whose outputs after the first depend on how the caller keeps moving averages (TF1
#: ``exponential_avg_factor`` 1.0 and separate assign ops; Keras' factor ``1 - momentum``)
#: or are scratch space: only the normalized output is recorded (the moving averages are
#: compared through the variables).
FIRST_OUTPUT_ONLY = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3",
                               "_FusedBatchNormEx"})
_PASS_THROUGH = frozenset({"Identity", "Snapshot", "StopGradient", "IdentityN"})
_VARIABLE_OPS = frozenset({"VariableV2", "VarHandleOp", "ReadVariableOp"})
#: Eager tensor ids remembered for input edges (oldest forgotten first).
MAX_EAGER_EDGES = 200_000


class OpCapture:
    """The op callback, and the edges from each op's inputs to recorded events."""

    def __init__(self, sink: CaptureSink, levels: CaptureLevels,
                 current_layer: Callable[[], str | None]) -> None:
        self._sink = sink
        self._levels = levels
        self._current_layer = current_layer
        self._local = threading.local()
        self._lock = threading.Lock()
        # graph tensors: (graph id, tensor name) -> [last event seq]; eager: tensor _id -> seq
        self._latest: dict[tuple[int, str], list[int]] = {}
        self._eager: collections.OrderedDict[int, tuple[int, str]] = collections.OrderedDict()
        self._installed = False
        self.xla_ops = 0

    def install(self) -> None:
        if self._levels.ops != "off":
            op_callbacks.add_op_callback(self._callback)
            # TensorFlow hands each callback what the previous one returned (None when it
            # changed nothing): first in the list, this one sees the real outputs, and
            # returns them unchanged for the others.
            callbacks = context.context().op_callbacks
            callbacks.insert(0, callbacks.pop())
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            op_callbacks.remove_op_callback(self._callback)
            self._installed = False

    # -- the callback ------------------------------------------------------------------

    def _callback(self, op_type: str, inputs: Any, attrs: Any, outputs: Any,
                  op_name: str | None = None, graph: Any = None) -> Any:
        if isinstance(op_type, bytes):  # eager execution names the type in bytes
            op_type = op_type.decode("utf-8", "replace")
        if not outputs or not self._sink.active or op_type in SKIP_TYPES:
            return outputs
        if getattr(self._local, "busy", False) or is_building():  # tftrace's own ops
            return outputs
        self._local.busy = True
        try:
            if graph is None:
                self._eager_op(op_type, inputs, attrs, outputs)
            else:
                self._graph_op(op_type, inputs, outputs, op_name, graph)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # never break the user's program for an op we cannot describe: say so instead
            self._sink.not_captured("op", op_type, "error", f"{type(exc).__name__}: {exc}")
        finally:
            self._local.busy = False
        return outputs

    def _eager_op(self, op_type: str, inputs: Any, attrs: Any, outputs: Any) -> None:
        if op_type.startswith(("__inference", "__forward", "__backward")):
            return  # a tf.function's call: its ops are observed inside it
        scope = context.context().scope_name or ""
        name = f"{scope}{op_type}"
        if not self._levels.wants_op(op_type, name):
            return
        refs = [self._eager.get(getattr(t, "_id", -1), (-1, "")) for t in inputs]
        op_attrs = OpAttrs(op_type=op_type, layer=self._current_layer(),
                           name_scope=scope.rstrip("/") or None,
                           op_attrs=eager_attributes(op_type, attrs),
                           inputs=tuple(seq for seq, _ in refs),
                           input_names=tuple(n for _, n in refs), mode="eager")
        sink = self._sink
        for index, output in enumerate(outputs):
            if not _recorded_dtype(output.dtype) or (index and op_type in FIRST_OUTPUT_ONLY):
                continue
            event_name = sink.in_replica(f"{name}:{index}")
            seq = sink.emit(EventKind.OP, event_name, output.numpy(),
                            op_attrs.replace(output_index=index))
            if seq is not None:
                self._eager[output._id] = (seq, event_name)
                if len(self._eager) > MAX_EAGER_EDGES:
                    self._eager.popitem(last=False)

    def _graph_op(self, op_type: str, inputs: Any, outputs: Any, op_name: str | None,
                  graph: Any) -> None:
        op = outputs[0].op
        name = op.name
        if "tftrace_observe" in name or getattr(graph, "name", "") == "keras_graph":
            return
        if not self._levels.wants_op(op_type, name):
            return
        if is_function_graph(graph):
            compiled = xla_function(graph)
            if compiled is not None:
                self.xla_ops += 1
                self._sink.not_captured("op", "*", "xla", "ops inside an XLA-compiled function",
                                        function=compiled)
                return
        graph_key = id(graph)
        sources = [_source(t) for t in inputs]
        # each input's producer's last seq (-1: never recorded), read at each execution
        input_seqs = [self._latest.setdefault((graph_key, t.name), [-1]) for t in sources]
        input_labels = [_label(t) for t in sources]
        scope = name.rpartition("/")[0] or None
        base = OpAttrs(op_type=op_type, layer=self._current_layer(), name_scope=scope,
                       op_attrs=graph_attributes(op), input_names=tuple(input_labels),
                       mode=mode_of(outputs[0]),
                       function=str(graph.name) if is_function_graph(graph) else None)
        for index, output in enumerate(outputs):
            if not _recorded_dtype(output.dtype) or (index and op_type in FIRST_OUTPUT_ONLY):
                continue
            self._watch(output, index, base, input_seqs, graph_key)

    def _watch(self, tensor: Any, index: int, base: OpAttrs, input_seqs: list[list[int]],
               graph_key: int) -> None:
        sink = self._sink
        latest = self._latest.setdefault((graph_key, tensor.name), [-1])
        event_name = sink.in_replica(tensor.name)
        # What every execution shares is checked and packed once (format/prepared.py);
        # per execution only the inputs' seqs, the statistics, step and time.
        emit = sink.prepare(EventKind.OP, event_name,
                            base.replace(output_index=index, inputs=(-1,) * len(input_seqs)))
        # its inputs' seqs read, its seq kept, per event or by a batch (recording/batching.py)
        deliver(sink, "op", event_name, tensor, PreparedOnValue(emit, input_seqs, latest))


def _recorded_dtype(dtype: Any) -> bool:
    return bool(dtype.is_floating or dtype.is_complex)


def _source(tensor: Any) -> Any:
    """The tensor whose value ``tensor`` passes on (through Identity chains)."""
    for _ in range(64):
        op = tensor.op
        if op.type in _PASS_THROUGH and op.inputs:
            tensor = op.inputs[0 if op.type != "IdentityN" else tensor.value_index]
        else:
            break
    return tensor


def _label(tensor: Any) -> str:
    op = tensor.op
    if op.type in _VARIABLE_OPS:
        base = op.inputs[0].op if op.type == "ReadVariableOp" and op.inputs else op
        return f"variable:{base.name}"
    if op.type == "Const":
        return "const"
    if op.type in ("Placeholder", "_Arg"):
        return f"input:{op.name}"
    return str(tensor.name)


# -- attributes ------------------------------------------------------------------------

def graph_attributes(op: Any) -> dict[str, Any]:
    """The non-tensor attributes of a graph op, as plain values."""
    kinds = _attr_kinds(op.type)
    out: dict[str, Any] = {}
    for key, value in op.node_def.attr.items():
        if _wanted(key, kinds.get(key)):
            out[key] = _plain(_from_proto(value), kinds.get(key))
    return dict(sorted(out.items()))


def eager_attributes(op_type: str, attrs: Any) -> dict[str, Any]:
    """The non-tensor attributes of an eagerly executed op (a flat key, value tuple)."""
    if not attrs:
        return {}
    kinds = _attr_kinds(op_type)
    out: dict[str, Any] = {}
    for key, value in zip(attrs[::2], attrs[1::2]):
        if _wanted(key, kinds.get(key)):
            if isinstance(value, attr_value_pb2.AttrValue):
                value = _from_proto(value)
            out[key] = _plain(value, kinds.get(key))
    return dict(sorted(out.items()))


def _wanted(key: str, kind: str | None) -> bool:
    return not key.startswith("_") and kind not in ("func", "list(func)", "tensor") and key != "value"


_ATTR_KINDS: dict[str, dict[str, str]] = {}


def _attr_kinds(op_type: str) -> dict[str, str]:
    kinds = _ATTR_KINDS.get(op_type)
    if kinds is None:
        op_def = op_def_registry.get(op_type)
        kinds = {a.name: a.type for a in op_def.attr} if op_def is not None else {}
        _ATTR_KINDS[op_type] = kinds
    return kinds


def _from_proto(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "list":
        items = value.list
        for field in ("i", "f", "b", "s", "type", "shape"):
            seq = list(getattr(items, field))
            if seq:
                if field == "shape":
                    return [_shape(s) for s in seq]
                return seq
        return []
    if which == "shape":
        return _shape(value.shape)
    if which == "func":
        return value.func.name
    if which == "tensor":
        return "<tensor>"
    return getattr(value, which) if which else None


def _shape(proto: Any) -> list[int] | None:
    return None if proto.unknown_rank else [int(d.size) for d in proto.dim]


def _plain(value: Any, kind: str | None) -> Any:
    """One normal form for both modes: types by name, floats as float32, bytes as str."""
    if kind == "type":
        return _dtype_name(value)
    if kind == "list(type)":
        return [_dtype_name(v) for v in value]
    if kind == "float":
        return float(np.float32(value))
    if kind == "list(float)":
        return [float(np.float32(v)) for v in value]
    if kind == "shape" and not isinstance(value, (list, type(None))):
        return _shape_of(value)
    if kind == "list(shape)" and isinstance(value, (list, tuple)):
        return [v if isinstance(v, (list, type(None))) else _shape_of(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_plain(v, None) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _dtype_name(value: Any) -> str:
    try:
        return str(tf.as_dtype(value).name)
    except (TypeError, ValueError):
        return str(value)


def _shape_of(value: Any) -> list[int] | None:
    try:
        shape = tf.TensorShape(value)
    except (TypeError, ValueError):
        return None
    return None if shape.rank is None else [(-1 if d is None else int(d)) for d in shape.as_list()]
