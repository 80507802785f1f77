"""Turning what the user hands us into numpy, and observing tensors inside tf.function.

A ``tf.function`` (or a control-flow branch) runs as one op from Python's point
of view, so values computed inside it are observed by a stateful
``tf.numpy_function`` added to the function's graph; automatic control
dependencies run it, in program order, on every execution, not only at tracing.
Seeds do not move: TensorFlow derives graph op seeds from a per-graph counter of
seeded ops, not from the number of ops. Nothing is added to a function XLA compiles
(:func:`xla_function`): its internals are listed as not captured instead.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import func_graph, ops
from tensorflow.python.ops import control_flow_util

from tftrace.errors import UsageError


def is_function_graph(graph: Any) -> bool:
    return isinstance(graph, func_graph.FuncGraph)


#: The execution models, each with its adapter: a value now, per execution, per Session run.
EXECUTION_MODES = ("eager", "function", "graph")


def execution_mode(graph: Any) -> str:
    """Which adapter records a value made in ``graph`` (None: eagerly), decided once:
    ``eager`` (the value is there now), ``function`` (a ``tf.function`` being traced:
    observed on every execution, observers.py) or ``graph`` (a TF1 graph: fetched by the
    Session runs that compute it anyway, session.py). It is also the events' ``mode``."""
    if graph is None:
        return "eager"
    return "function" if is_function_graph(graph) else "graph"


#: The function tf.function builds to run the initializers it lifted out of a first trace.
_LIFTED_INITIALIZERS = "initialize_variables"


def xla_function(graph: Any) -> str | None:
    """The name of the XLA-compiled function ``graph`` belongs to, or None.

    ``tf.function(jit_compile=True)`` (and Keras ``jit_compile=True``) traces its body
    inside an ``XLAControlFlowContext``; so does every function traced while it runs.
    XLA compiles the whole body, and a ``numpy_function`` cannot be compiled: nothing
    may be observed there.
    """
    if not control_flow_util.GraphOrParentsInXlaContext(graph):
        return None
    # Calling a compiled function enters the XLA context on the *caller's* graph (or on
    # the function's own graph when traced outside a call): the compiled function is the
    # innermost one whose graph or caller's graph holds the context.
    while is_function_graph(graph):
        if graph.name == _LIFTED_INITIALIZERS:
            return None  # runs outside the compiled function, though traced during its call
        outer = getattr(graph, "outer_graph", None)
        if control_flow_util.InXlaContext(graph) or (
                outer is not None and control_flow_util.InXlaContext(outer)):
            return str(graph.name)
        graph = outer
    return "an XLA-compiled function"


def is_symbolic(value: Any) -> bool:
    """A graph tensor (TF1 graph or tf.function), as opposed to an eager value."""
    return isinstance(value, tf.Tensor) and not isinstance(value, ops.EagerTensor)


def variable_value(value: Any) -> Any:
    """What to record for a variable given as an endpoint, else ``value`` unchanged.

    In a ``tf.function`` a variable is read where the endpoint is asked for (a
    ``ReadVariableOp`` that automatic control dependencies order after the function's
    earlier assignments to it), so each execution records its value at that point, not
    the value it had when the function was traced. In a TF1 graph: the variable's graph
    tensor, fetched by the runs that compute it. Eagerly: the variable itself (read now).
    A Keras 3 variable stands for its ``tf.Variable``.
    """
    inner = getattr(value, "value", None)
    if not isinstance(value, tf.Variable) and isinstance(inner, tf.Variable):
        value = inner  # keras.Variable
    if not isinstance(value, tf.Variable):
        return value
    if getattr(value, "_in_graph_mode", False):
        return value._as_graph_element()
    if is_function_graph(ops.get_default_graph()):
        return value.read_value()
    return value


def is_resource_handle(value: Any) -> bool:
    """A resource tensor (a variable's handle): it holds no values to record."""
    return isinstance(value, tf.Tensor) and value.dtype == tf.resource


def handle_variable(handle: tf.Tensor, variables: Iterable[Any], name: str) -> Any:
    """The variable whose handle ``handle`` is (its own, or a tf.function's capture of it).

    Raises :class:`UsageError` when no recorded variable owns it.
    """
    owner = handle
    graph: Any = getattr(handle, "graph", None)
    if is_function_graph(graph):
        for external, internal in graph.captures:
            if internal is handle:
                owner = external
                break
    for variable in variables:
        if getattr(variable, "handle", None) is owner:
            return variable
    where = "an eager handle" if isinstance(handle, ops.EagerTensor) else f"graph tensor {handle.name}"
    raise UsageError(
        f"endpoint {name!r}: expected a value, got a resource handle ({where}) of no "
        f"variable created during this recording; give the variable itself "
        f"(rec.endpoint({name!r}, variable)) to record its value")


def in_function_value(value: Any) -> Any:
    """A value given inside a ``tf.function`` being traced, as a tensor of that function.

    An eager tensor (say one the function's closure captured), a numpy array or a Python
    scalar would otherwise be recorded once, when the function is traced; as the
    function's capture of it (or a constant of it) it is recorded on every execution,
    in program order, like any other tensor there. Outside a function: unchanged.
    """
    graph = ops.get_default_graph()
    if not is_function_graph(graph) or is_symbolic(value):
        return value
    if isinstance(value, ops.EagerTensor):
        return graph.capture(value)
    if isinstance(value, (np.ndarray, np.generic, bool, int, float, complex, str, bytes, list,
                          tuple)):
        try:
            return tf.constant(to_numpy(value))
        except (TypeError, ValueError):  # a dtype TensorFlow has no tensor for
            return value
    return value


def to_numpy(value: Any, name: str = "") -> np.ndarray | np.generic:
    """An eager tensor, variable, numpy array or Python scalar as numpy."""
    if isinstance(value, ops.EagerTensor):
        return value.numpy()
    if isinstance(value, tf.Variable):
        with tf.init_scope():
            return value.numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return value
    if isinstance(value, (bool, int, float, complex, str, bytes, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind == "U":
            array = np.asarray(np.char.encode(array, "utf-8"), dtype=object)
        return array
    raise UsageError(
        f"endpoint {name!r}: expected a tf.Tensor, tf.Variable, numpy array or Python "
        f"scalar, got {type(value).__name__}; convert composite tensors (sparse, ragged) "
        f"to dense first")


def observe_in_function(tensor: tf.Tensor, on_value: Callable[[np.ndarray], None]) -> Any:
    """Add a stateful op to ``tensor``'s function graph that calls ``on_value`` per execution.

    Returns the op, for callers that want to make a consumer depend on it.
    """
    def observe(array: Any) -> list[Any]:
        on_value(np.asarray(array) if not isinstance(array, np.ndarray) else array.copy())
        return []

    return tf.numpy_function(observe, [tensor], Tout=[], stateful=True,
                             name="tftrace_observe")


def observe_passing_through(tensor: tf.Tensor, on_value: Callable[[np.ndarray], None]) -> tf.Tensor:
    """A stand-in for ``tensor`` that calls ``on_value`` with its value and returns it as is.

    For values whose consumers are copied elsewhere (a variable's initializer, lifted
    out of the function it was traced in), where a side observer would be left behind.
    """
    dtype = tensor.dtype

    def observe(array: Any) -> Any:
        value = np.asarray(array)
        on_value(value.copy())
        return value

    passed = tf.numpy_function(observe, [tensor], Tout=dtype, stateful=True,
                               name="tftrace_observe")
    passed.set_shape(tensor.shape)
    return passed
