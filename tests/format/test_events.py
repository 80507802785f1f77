"""The event vocabulary (format/events.py) and the shared rules (format/rules.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tftrace.errors import TraceFormatError, UsageError
from tftrace.format.events import (ATTRS, EVENT_KINDS, RULES, EndpointAttrs, EventKind, GradientAttrs,
                                   LayerAttrs, OpAttrs, OptimizerAttrs, RandomOpAttrs, SnapshotAttrs,
                                   VariableAttrs, attrs_from_dict)
from tftrace.format.fields import FieldError
from tftrace.format.reader import open_trace
from tftrace.format.rules import (RenameRule, is_initializer, marks_initializers, normalize_name,
                                  parse_rename_rule, random_family, random_order, renamed)
from tftrace.format.schema import Event
from tftrace.format.writer import TraceWriter


def test_every_kind_has_attrs_and_rules_and_reads_as_its_stored_name() -> None:
    assert EVENT_KINDS == ("variable", "random_op", "endpoint", "snapshot", "layer", "op", "gradient",
                           "optimizer")
    assert set(ATTRS) == set(RULES) == set(EventKind)
    assert EventKind.RANDOM_OP == "random_op" and f"{EventKind.RANDOM_OP}" == "random_op"
    assert str(EventKind.VARIABLE) == "variable" and ", ".join(EventKind) == ", ".join(EVENT_KINDS)


def test_a_written_event_reads_back_typed_with_the_same_stored_map(tmp_path) -> None:
    written = RandomOpAttrs(op_type="RandomUniform", seed=(42, 3), seed_index=3, mode="eager",
                            name_scope="block", op_name=None, call_site="m.py:1 in f", initializer=False)
    with TraceWriter.create(tmp_path / "t.zarr") as writer:
        writer.add_event("random_op", "block/RandomUniform", value=np.ones(2, np.float32), attrs=written)
        writer.add_event("variable", "w", value=np.ones(2, np.float32),
                         attrs=VariableAttrs(trainable=False, creation_index=0, call_index=0, mode="eager",
                                             call_site=None, replayed=True))
        writer.add_event("snapshot", "w", value=np.ones(2, np.float32), attrs=SnapshotAttrs(mode="graph"))
        writer.add_event("endpoint", "y", value=np.ones(2, np.float32), attrs={"call_site": "x.py:2", "note": [1]})
    with open_trace(tmp_path / "t.zarr") as trace:
        random_op, variable, snapshot, endpoint = trace.events
    assert type(random_op.kind) is EventKind and random_op.kind is EventKind.RANDOM_OP
    assert isinstance(random_op.attrs, RandomOpAttrs) and random_op.attrs.seed == (42, 3)
    # the stored form: written keys in the writer's order, None kept where tftrace always writes it
    assert random_op.attrs.to_dict() == {"op_type": "RandomUniform", "seed": [42, 3], "seed_index": 3,
                                         "mode": "eager", "name_scope": "block", "op_name": None,
                                         "call_site": "m.py:1 in f", "initializer": False}
    assert list(random_op.attrs) == list(random_op.attrs.to_dict())
    assert random_op.attrs["seed"] == [42, 3] and "replayed_from" not in random_op.attrs
    assert variable.attrs.to_dict() == {"trainable": False, "creation_index": 0, "call_index": 0,
                                        "call_site": None, "mode": "eager", "replayed": True}
    assert (variable.attrs.trainable, variable.call_site) == (False, None)
    assert snapshot.attrs.to_dict() == {"mode": "graph"}
    assert isinstance(endpoint.attrs, EndpointAttrs) and endpoint.attrs.extra == {"note": [1]}
    assert endpoint.attrs.to_dict() == {"call_site": "x.py:2", "note": [1]} and endpoint.call_site == "x.py:2"


def test_the_captured_kinds_read_back_typed(tmp_path) -> None:
    op = OpAttrs(op_type="FusedBatchNormV3", output_index=0, layer="conv1/BatchNorm",
                 op_attrs={"epsilon": 0.001, "data_format": "NHWC"}, inputs=(3, -1),
                 input_names=("conv1/Conv2D:0", "const"), mode="graph")
    with TraceWriter.create(tmp_path / "t.zarr") as writer:
        writer.add_event("op", "conv1/BatchNorm/FusedBatchNormV3:0", value=np.ones(2, np.float32), attrs=op)
        writer.add_event("layer", "conv1", value=np.ones(2, np.float32),
                         attrs=LayerAttrs(layer_type="conv2d", family="slim", mode="graph", output_index=0))
        writer.add_event("gradient", "w", value=np.ones(2, np.float32),
                         attrs=GradientAttrs(variable="w", source="tape", mode="eager"))
        writer.add_event("optimizer", "epsilon", value=np.float64(1e-7),
                         attrs=OptimizerAttrs(optimizer="Adam", family="keras3", hyperparameter="epsilon",
                                              mode="eager", scheduled=False))
    with open_trace(tmp_path / "t.zarr") as trace:
        read_op, layer, gradient, optimizer = trace.events
    assert isinstance(read_op.attrs, OpAttrs) and read_op.attrs.inputs == (3, -1)
    assert read_op.attrs.input_names == ("conv1/Conv2D:0", "const")
    assert read_op.attrs.op_attrs == {"epsilon": 0.001, "data_format": "NHWC"}
    assert read_op.attrs.to_dict()["inputs"] == [3, -1] and read_op.attrs.layer == "conv1/BatchNorm"
    assert isinstance(layer.attrs, LayerAttrs) and layer.attrs.family == "slim"
    assert isinstance(gradient.attrs, GradientAttrs) and gradient.attrs.variable == "w"
    assert isinstance(optimizer.attrs, OptimizerAttrs) and optimizer.attrs.hyperparameter == "epsilon"
    assert [e.kind for e in trace.events] == [EventKind.OP, EventKind.LAYER, EventKind.GRADIENT,
                                              EventKind.OPTIMIZER]


def test_replace_keeps_the_stored_keys_and_adds_the_new_one() -> None:
    base = RandomOpAttrs(op_type="RandomUniform", seed=None, seed_index=0)
    replayed = base.replace(replayed_from=7)
    assert replayed.replayed_from == 7 and replayed.to_dict()["replayed_from"] == 7
    read = attrs_from_dict(EventKind.RANDOM_OP, {"seed_index": 1, "op_type": "X"})
    assert list(read.replace(initializer=True)) == ["seed_index", "op_type", "initializer"]


@pytest.mark.parametrize("kind, raw, message", [
    pytest.param(EventKind.RANDOM_OP, {"seed": [1, 2, 3]}, "attrs.seed: expected a list of two ints or nil, got list", id="seed"),
    pytest.param(EventKind.VARIABLE, {"trainable": 1}, "attrs.trainable: expected a bool, got int 1", id="trainable"),
    pytest.param(EventKind.VARIABLE, {"function": 3}, "attrs.function: expected a str or nil, got int 3", id="function"),
    pytest.param(EventKind.SNAPSHOT, {"mode": None}, "attrs.mode: expected a str, got nil", id="mode"),
    pytest.param(EventKind.ENDPOINT, [1], "attrs: expected a map, got list", id="not-a-map"),
    pytest.param(EventKind.OP, {"inputs": [1, "x"]}, "attrs.inputs: expected a list of int, got list", id="op-inputs"),
    pytest.param(EventKind.OP, {"op_attrs": [1]}, "attrs.op_attrs: expected a map, got list", id="op-attrs"),
    pytest.param(EventKind.LAYER, {"output_index": 1.0}, "attrs.output_index: expected an int, got float 1.0", id="layer-output"),
    pytest.param(EventKind.OPTIMIZER, {"scheduled": "yes"}, "attrs.scheduled: expected a bool, got str 'yes'", id="scheduled"),
])
def test_a_wrong_field_is_named(kind, raw, message) -> None:
    with pytest.raises(FieldError, match=message.replace("[", r"\[").replace("]", r"\]")):
        attrs_from_dict(kind, raw)


def test_an_event_built_from_plain_values_is_validated() -> None:
    event = Event(seq=0, kind="random_op", name="r", attrs={"op_type": "RandomUniform"})
    assert event.kind is EventKind.RANDOM_OP and event.attrs.op_type == "RandomUniform"
    with pytest.raises(TraceFormatError, match="kind: expected one of variable"):
        Event(seq=0, kind="layers", name="x")



def test_the_writer_refuses_attrs_of_another_kind(tmp_path) -> None:
    with TraceWriter.create(tmp_path / "t.zarr") as writer:
        with pytest.raises(UsageError, match="attrs: expected the attrs of a variable event, got RandomOpAttrs"):
            writer.add_event("variable", "w", value=np.ones(1), attrs=RandomOpAttrs(op_type="X"))
        assert writer.add_event("variable", "w", value=np.ones(1), attrs=VariableAttrs(trainable=True)).seq == 0


def test_attrs_given_again_are_stored_as_the_first_time(tmp_path) -> None:
    # A captured stream hands the same attrs object on every execution; the writer checks
    # it once. Every event must still store the normal form (tuples as lists, numpy
    # scalars as numbers), and the kind check must still refuse it for another kind.
    shared = OpAttrs(op_type="Conv2D", output_index=0, op_attrs={"strides": (1, 2), "epsilon": np.float32(0.5)},
                     inputs=(3, -1), input_names=("x:0", "variable:w"), mode="function")
    stored = {"op_type": "Conv2D", "output_index": 0, "op_attrs": {"strides": [1, 2], "epsilon": 0.5},
              "inputs": [3, -1], "input_names": ["x:0", "variable:w"], "mode": "function"}
    fresh = OpAttrs(op_type="Conv2D", output_index=0, op_attrs={"strides": (1, 2), "epsilon": np.float32(0.5)},
                    inputs=(3, -1), input_names=("x:0", "variable:w"), mode="function")
    with TraceWriter.create(tmp_path / "t.zarr") as writer:
        returned = [writer.add_event("op", "c/Conv2D:0", step=step, value=np.ones(2, np.float32), attrs=attrs)
                    for step, attrs in enumerate([shared, shared, fresh, shared])]
        with pytest.raises(UsageError, match="attrs: expected the attrs of a layer event, got OpAttrs"):
            writer.add_event("layer", "c", value=np.ones(1), attrs=shared)
    with open_trace(tmp_path / "t.zarr") as trace:
        events = trace.events
    assert [e.seq for e in events] == [0, 1, 2, 3]  # the refused event wrote nothing
    for event in [*returned, *events]:
        assert event.attrs.to_dict() == stored
        assert type(event.attrs.op_attrs["strides"]) is list and type(event.attrs.op_attrs["epsilon"]) is float


def test_naming_rules() -> None:
    assert normalize_name("dense/kernel:0") == "dense/kernel" and normalize_name("x:1") == "x:1"
    rule = parse_rename_rule("^model/=")
    assert rule == RenameRule("^model/", "") and str(rule) == "^model/="
    assert renamed("model/dense/kernel:0", [rule]) == "dense/kernel"
    assert parse_rename_rule(("a", "b")).apply("xa") == "xb"
    for bad in ("noequals", "=x", ("a",)):
        with pytest.raises(UsageError):
            parse_rename_rule(bad)  # type: ignore[arg-type]


def test_random_op_order_and_families() -> None:
    def op(seq, step, seed_index, initializer=None):
        attrs = {"op_type": "RandomUniform", "seed_index": seed_index}
        if initializer is not None:
            attrs["initializer"] = initializer
        return Event(seq=seq, kind="random_op", name=f"r{seq}", step=step, attrs=attrs)

    dropout, init_late, init_early, next_step = op(0, 0, 1, False), op(1, 0, 2, True), op(2, 0, 0, True), op(3, 1, 0, False)
    ordered = sorted([next_step, dropout, init_late, init_early], key=random_order)
    assert [e.seq for e in ordered] == [2, 1, 0, 3]  # initializers first, each by seed index; then step 1
    assert [e.seq for e in sorted([dropout, init_late, init_early], key=lambda e: random_order(e, split=False))] == [2, 0, 1]
    assert is_initializer(init_late) and not is_initializer(dropout)
    assert marks_initializers([dropout, init_late]) and not marks_initializers([op(4, 0, 0)])
    assert random_family("StatelessRandomUniformV2") == random_family("RandomUniform") == "uniform"
    assert random_family("RandomGamma") == "RandomGamma" and random_family(None) is None
