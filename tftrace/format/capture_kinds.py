"""The automatically captured event kinds: ``layer``, ``op``, ``gradient``, ``optimizer``.

One place for what these kinds carry, so that the writer and reader validate them and
comparison reads them through the accessors below instead of by string key
(docs/format.md, "Event kinds").

- ``layer``: the output of one layer call, named by the layer's path ("model/block/dense")
  or its variable scope (tf-slim, ``tf.compat.v1.layers``: "conv1", "conv1/BatchNorm").
- ``op``: one output of one op, named like its tensor ("conv1/Conv2D:0"; eagerly the name
  scope plus the op type); with its op type, layer, non-tensor attributes and, per input,
  the sequence number of the event that recorded the input's value (-1: not recorded).
- ``gradient``: the gradient of a trainable variable, named by the variable.
- ``optimizer``: a hyperparameter an optimizer used at a step, named by its role
  ("learning_rate", "beta_1", "epsilon"...), whatever the optimizer family calls it.
"""

from __future__ import annotations

from typing import Any, Mapping

from tftrace.format.fields import (BOOL, INT, MAP, OPT_STR, STR, STR_LIST, FieldType,
                                   _is_int)

#: The kinds, in the order reports list them.
CAPTURE_KINDS = ("layer", "op", "gradient", "optimizer")

#: Capture levels of each stream (``tftrace.record(layers=..., ops=...)``).
LEVELS = ("off", "stats", "full")

INT_LIST = FieldType("a list of int", lambda x: isinstance(x, list) and all(_is_int(i) for i in x))

#: The attrs each kind carries (checked on write and on read, like the other kinds').
ATTR_TYPES: dict[str, dict[str, FieldType]] = {
    "layer": {"layer_type": STR, "family": STR, "mode": STR, "output_index": INT,
              "call_site": OPT_STR},
    "op": {"op_type": STR, "output_index": INT, "layer": OPT_STR, "name_scope": OPT_STR,
           "op_attrs": MAP, "inputs": INT_LIST, "input_names": STR_LIST, "mode": STR,
           "function": OPT_STR},
    "gradient": {"variable": STR, "source": STR, "mode": STR, "call_site": OPT_STR},
    "optimizer": {"optimizer": STR, "family": STR, "hyperparameter": STR, "mode": STR,
                  "scheduled": BOOL},
}

#: The hyperparameter roles, and what each optimizer family calls them.
HYPERPARAMETER_ROLES = ("learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "epsilon",
                        "rho", "weight_decay", "amsgrad", "initial_accumulator_value")


# -- accessors: comparison and reports read the kinds through these --------------------

def op_type(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("op_type")
    return value if isinstance(value, str) else None


def layer_of(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("layer")
    return value if isinstance(value, str) else None


def op_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    value = attrs.get("op_attrs")
    return dict(value) if isinstance(value, dict) else {}


def input_events(attrs: Mapping[str, Any]) -> list[int]:
    """Sequence numbers of the events that recorded this op's inputs (-1: not recorded)."""
    value = attrs.get("inputs")
    return [i for i in value if isinstance(i, int)] if isinstance(value, list) else []


def input_names(attrs: Mapping[str, Any]) -> list[str]:
    value = attrs.get("input_names")
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


def output_index(attrs: Mapping[str, Any]) -> int:
    value = attrs.get("output_index", 0)
    return value if isinstance(value, int) else 0


def hyperparameter(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("hyperparameter")
    return value if isinstance(value, str) else None


def gradient_variable(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("variable")
    return value if isinstance(value, str) else None
