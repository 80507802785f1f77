"""Re-run one recorded op eagerly: its type, its attributes as op capture normalized them
(types by name, floats as float32, shapes as lists) and its input values.

The op is executed through ``tensorflow.python.eager.execute.execute``, the call every
generated ``tf.raw_ops`` function makes, so any registered op can be re-run from its
``OpDef`` without a Python wrapper per op.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tftrace.errors import UsageError


class RerunError(UsageError):
    """The op cannot be re-run (unknown type, an attribute that cannot be rebuilt)."""


def machine() -> dict[str, Any]:
    """The TensorFlow version and device the re-runs use."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return {"tensorflow": tf.__version__, "device": gpus[0].name if gpus else "/device:CPU:0"}


def run_op(op_type: str, attributes: Mapping[str, Any], inputs: Sequence[np.ndarray],
           output_index: int) -> np.ndarray:
    """The op's output ``output_index`` computed now on ``inputs``.

    Raises
    ------
    RerunError
        The op type is not registered, takes other inputs, or has an attribute that
        cannot be rebuilt from the trace (a function, a tensor).
    """
    import tensorflow as tf
    from tensorflow.python.eager import context, execute
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(op_type)
    if op_def is None:
        raise RerunError(f"op {op_type!r}: expected an op type registered in TensorFlow "
                         f"{tf.__version__}, got none of that name")
    flat: list[Any] = []
    kinds = {a.name: a.type for a in op_def.attr}
    for name, kind in kinds.items():
        if name in attributes:
            flat.extend([name, _attribute(op_type, name, kind, attributes[name])])
        elif kind in ("func", "list(func)", "tensor"):
            raise RerunError(f"op {op_type!r}: attribute {name!r} ({kind}) is not recorded, "
                             f"so the op cannot be re-run from the trace")
    expected = _count(op_def.input_arg, attributes)
    if expected is not None and expected != len(inputs):
        raise RerunError(f"op {op_type!r}: expected {expected} inputs, got {len(inputs)} recorded")
    tensors = [tf.constant(value) for value in inputs]
    outputs = _count(op_def.output_arg, attributes) or output_index + 1
    results = execute.execute(op_type, outputs, tensors, tuple(flat), context.context())
    return np.asarray(results[output_index].numpy())


def _count(args: Any, attributes: Mapping[str, Any]) -> int | None:
    """How many tensors an op's input or output list holds (None: unknown)."""
    total = 0
    for arg in args:
        if arg.number_attr:
            size = attributes.get(arg.number_attr)
        elif arg.type_list_attr:
            listed = attributes.get(arg.type_list_attr)
            size = len(listed) if isinstance(listed, list) else None
        else:
            size = 1
        if not isinstance(size, int):
            return None
        total += size
    return total


def _attribute(op_type: str, name: str, kind: str, value: Any) -> Any:
    """An attribute as ``execute`` takes it, from op capture's plain form."""
    import tensorflow as tf

    try:
        if kind == "type":
            return tf.as_dtype(value).as_datatype_enum
        if kind == "list(type)":
            return [tf.as_dtype(v).as_datatype_enum for v in value]
        if kind == "string":
            return value.encode("utf-8") if isinstance(value, str) else value
        if kind == "list(string)":
            return [v.encode("utf-8") if isinstance(v, str) else v for v in value]
    except (TypeError, ValueError) as exc:
        raise RerunError(f"op {op_type!r}: attribute {name!r}: expected a {kind}, got {value!r} "
                         f"({exc})") from None
    if kind in ("func", "list(func)", "tensor"):
        raise RerunError(f"op {op_type!r}: attribute {name!r} ({kind}) cannot be rebuilt from "
                         f"the trace")
    return value
