"""The event vocabulary (format/events.py) and the shared rules (format/rules.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tftrace.errors import TraceFormatError, UsageError
from tftrace.format.events import (ATTRS, EVENT_KINDS, RULES, EndpointAttrs, EventKind, RandomOpAttrs,
                                   SnapshotAttrs, VariableAttrs, attrs_from_dict)
from tftrace.format.fields import FieldError
from tftrace.format.reader import open_trace
from tftrace.format.rules import (RenameRule, is_initializer, marks_initializers, normalize_name,
                                  parse_rename_rule, random_family, random_order, renamed)
from tftrace.format.schema import Event
from tftrace.format.writer import TraceWriter


def test_every_kind_has_attrs_and_rules_and_reads_as_its_stored_name() -> None:
    assert EVENT_KINDS == ("variable", "random_op", "endpoint", "snapshot")
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
])
def test_a_wrong_field_is_named(kind, raw, message) -> None:
    with pytest.raises(FieldError, match=message.replace("[", r"\[").replace("]", r"\]")):
        attrs_from_dict(kind, raw)


def test_an_event_built_from_plain_values_is_validated() -> None:
    event = Event(seq=0, kind="random_op", name="r", attrs={"op_type": "RandomUniform"})
    assert event.kind is EventKind.RANDOM_OP and event.attrs.op_type == "RandomUniform"
    with pytest.raises(TraceFormatError, match="kind: expected one of variable"):
        Event(seq=0, kind="layer", name="x")



def test_the_writer_refuses_attrs_of_another_kind(tmp_path) -> None:
    with TraceWriter.create(tmp_path / "t.zarr") as writer:
        with pytest.raises(UsageError, match="attrs: expected the attrs of a variable event, got RandomOpAttrs"):
            writer.add_event("variable", "w", value=np.ones(1), attrs=RandomOpAttrs(op_type="X"))
        assert writer.add_event("variable", "w", value=np.ones(1), attrs=VariableAttrs(trainable=True)).seq == 0


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
