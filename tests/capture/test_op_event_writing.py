"""Op events of a ``tf.function`` at ``ops=stats`` are written prepared (format/prepared.py:
name and attrs checked, the record's constant parts packed once per op output; per
execution only what changes). What they hold must be what the program computed and what
the per-event path writes (its attrs checked whole, its record packed from its map), also
against a trace; the writer's incremental attrs path (an op's attrs checked once, only
its ``inputs`` per event) still refuses a malformed ``inputs``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tftrace.errors import UsageError
from tftrace.format import checked_attrs as checked_module, digest, prepared as prepared_module
from tftrace.format import writer as writer_module
from tftrace.format.compact_log import event_record, packed_event_record
from tftrace.format.events import EventKind, OpAttrs, VariableAttrs
from tftrace.format.packing import pack
from tftrace.format.reader import open_trace
from tftrace.format.schema import Event, Stats, ValueSummary
from tftrace.format.writer import TraceWriter

W = np.array([0.5, -1.0, 2.0], np.float32)
B = np.array([0.25, 0.5, -3.0], np.float32)
INPUTS = [np.array([[1.0, 2.0, 3.0], [-4.0, 5.0, 0.5]], np.float32) * (k + 1) for k in range(3)]


def record(path: Path, swapped: bool = False, scale: float = 1.0, twice: bool = False,
           against: Any = None) -> Any:
    w, b = tf.Variable(W, name="w"), tf.Variable(B, name="b")  # before: no variable events

    @tf.function
    def f(x: Any) -> Any:
        h = x * w
        a = b + h if swapped else h + b
        r = tf.nn.relu(a)
        s = tf.reduce_sum(r, axis=1)
        return s * 2.0

    with tftrace.record(path, seed_mode="off", layers="off", ops="stats", gradients="off",
                        optimizer="off", against=against) as rec:
        for x in INPUTS:
            f(tf.constant(x * scale))
            if twice:  # a second execution in the step: occurrence 1 of each op
                f(tf.constant(x * -scale))
            rec.next_step()
    return rec


def expected_events() -> list[dict[str, Any]]:
    """The program's op outputs per execution, derived by hand from its dataflow, with
    numpy's values: the producer of each input is the event recorded for it in the same
    step (x, the variables and constants are not recorded: -1)."""
    out: list[dict[str, Any]] = []
    for step, x in enumerate(INPUTS):
        h = x * W
        a = h + B
        r = np.maximum(a, 0)
        s = r.sum(axis=1, dtype=np.float64)
        base = len(out)
        for k, (name, op_type, value, inputs) in enumerate([
                ("mul:0", "Mul", h, [-1, -1]),
                ("add:0", "AddV2", a, [base, -1]),
                ("Relu:0", "Relu", r, [base + 1]),
                ("Sum:0", "Sum", s, [base + 2, -1]),
                ("mul_1:0", "Mul", s * 2, [base + 3, -1])]):
            out.append({"seq": base + k, "kind": "op", "name": name, "step": step, "occurrence": 0,
                        "op_type": op_type, "inputs": inputs, "shape": value.shape,
                        "min": float(value.min()), "max": float(value.max()),
                        "mean": float(value.astype(np.float64).mean())})
    return out


def mismatches(path: Path, expected: list[dict[str, Any]]) -> list[str]:
    """What differs between the recorded op events and ``expected``, in order."""
    events = [e for e in open_trace(path).events if e.kind == "op"]
    found = []
    if len(events) != len(expected):
        found.append(f"{len(events)} events, expected {len(expected)}")
    for event, want in zip(events, expected):
        got = {"seq": event.seq, "kind": event.kind, "name": event.name, "step": event.step,
               "occurrence": event.occurrence, "op_type": event.attrs["op_type"],
               "inputs": event.attrs["inputs"], "shape": event.shape}
        for key, value in got.items():
            if value != want[key]:
                found.append(f"#{want['seq']} {key}: {value!r}, expected {want[key]!r}")
        stats = (event.stats.min, event.stats.max, event.stats.mean)
        if not np.allclose(stats, (want["min"], want["max"], want["mean"]), rtol=1e-6, atol=0):
            found.append(f"#{want['seq']} stats: {stats}, expected {want['min'], want['max'], want['mean']}")
    return found


def log_records(path: Path) -> list[dict[str, Any]]:
    """The trace's event records as stored, without their time."""
    records = []
    for segment in sorted((path / "log").iterdir(), key=lambda p: int(p.name)):
        with open(segment, "rb") as stream:
            for record in msgpack.Unpacker(stream, raw=False, strict_map_key=False):
                if record.get("type") == "event":
                    records.append({k: v for k, v in record.items() if k != "t"})
    return records


def test_op_events_hold_the_programs_dataflow_and_values(tmp_path, monkeypatch) -> None:
    full_checks = []
    check = checked_module.checked_attrs
    monkeypatch.setattr(checked_module, "checked_attrs",
                        lambda kind, attrs: full_checks.append(kind) or check(kind, attrs))
    record(tmp_path / "t.zarr")
    assert mismatches(tmp_path / "t.zarr", expected_events()) == []
    # the incremental path ran: the full check once per op output, not per event
    assert full_checks == ["op"] * 5
    # Negative control: operands swapped (the add's edges in the other order) and another
    # input (other statistics): both differences are found.
    record(tmp_path / "other.zarr", swapped=True, scale=1.5)
    found = mismatches(tmp_path / "other.zarr", expected_events())
    assert any("inputs: [-1, 0]" in f for f in found), found
    assert any(" stats: " in f for f in found), found


def read_back(path: Path) -> list[dict[str, Any]]:
    """Each event of the trace as read, field by field (its time left out)."""
    return [{**e.to_dict(), "t": None} for e in open_trace(path).events]


def test_prepared_writing_stores_what_the_per_event_path_stores(tmp_path, monkeypatch) -> None:
    written, batched = [], []
    add, splice = prepared_module.PreparedEvent.record, writer_module.spliced_records
    monkeypatch.setattr(prepared_module.PreparedEvent, "record",
                        lambda self, *args: written.append(self.name) or add(self, *args))
    monkeypatch.setattr(writer_module, "spliced_records",
                        lambda events, *args: batched.extend(e.name for e in events) or splice(events, *args))
    record(tmp_path / "prepared.zarr", twice=True)
    # every op event went through a prepared record: at the first execution one by one
    # (preparing each), then by batches (recording/batching.py)
    assert len(written) == 5 and len(batched) == 25
    # The per-event path: every op event through add_event, its attrs checked whole, its
    # record packed from its map.
    with monkeypatch.context() as patch:
        patch.setattr(prepared_module.PreparedEvent, "accepts", lambda self, values: False)
        patch.setattr(checked_module, "_PER_EXECUTION_TYPES", {})
        patch.setattr(writer_module, "packed_event_record",
                      lambda event, leaves, compact, attrs: pack(event_record(event, leaves, compact),
                                                                 "event record"))
        record(tmp_path / "per_event.zarr", twice=True)
    assert len(written) == 5 and len(batched) == 25
    prepared, per_event = log_records(tmp_path / "prepared.zarr"), log_records(tmp_path / "per_event.zarr")
    assert len(prepared) == 30 and prepared == per_event
    assert [r.get("occ", 0) for r in prepared[:10]] == [0] * 5 + [1] * 5
    assert read_back(tmp_path / "prepared.zarr") == read_back(tmp_path / "per_event.zarr")
    # Negative control: the comparisons see one changed input edge, and another run.
    changed = [dict(r) for r in per_event]
    changed[11] = {**changed[11], "attrs": {**changed[11]["attrs"], "inputs": [9, -1]}}
    assert prepared != changed
    record(tmp_path / "other.zarr", twice=True, scale=1.5)
    assert read_back(tmp_path / "prepared.zarr") != read_back(tmp_path / "other.zarr")


def test_recording_against_a_trace_judges_prepared_op_events(tmp_path) -> None:
    record(tmp_path / "a.zarr")
    same = record(tmp_path / "b.zarr", against=str(tmp_path / "a.zarr"))
    assert same.against.result.equivalent, same.against.result
    assert same.against.summary()["kept"] == 0
    # negative control: another input diverges at the first op, whose value B keeps
    other = record(tmp_path / "c.zarr", scale=1.5, against=str(tmp_path / "a.zarr"))
    first = other.against.result.first_divergence
    assert not other.against.result.equivalent and first is not None
    assert (first.kind, first.name, first.step) == ("op", "mul:0", 0)
    assert mismatches(tmp_path / "b.zarr", expected_events()) == []


# -- the writer on its own: hostile inputs after an op's attrs were checked once -------

STATIC = OpAttrs(op_type="Conv2D", layer="net/conv", name_scope="net/conv",
                 op_attrs={"padding": "SAME", "strides": [1, 1, 1, 1]}, inputs=(),
                 input_names=("net/relu:0", "variable:net/conv/kernel"), mode="function",
                 function="__inference_step_1", output_index=0)
SUMMARY = ValueSummary((2, 3), "float32", Stats(6, -1.0, 2.0, 0.5))


def with_inputs(inputs: Any) -> OpAttrs:
    """``STATIC`` with other inputs, built as the op capture builds them (its fields shared)."""
    attrs = object.__new__(OpAttrs)
    attrs.__dict__.update(STATIC.__dict__)
    attrs.__dict__["inputs"] = inputs
    return attrs


@pytest.mark.parametrize("inputs", [(True, -1), (1.5, -1), ("0", -1), (2 ** 64, -1),
                                    (-(2 ** 63) - 1, -1), ([0], -1), None],
                         ids=["bool", "float", "str", "huge", "tiny", "nested", "none"])
def test_a_malformed_inputs_field_is_refused_after_the_op_was_checked(tmp_path, inputs) -> None:
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as writer:
        writer.add_event("op", "net/conv/Conv2D:0", value=SUMMARY, attrs=with_inputs((0, -1)))
        writer.add_event("op", "net/conv/Conv2D:0", step=1, value=SUMMARY, attrs=with_inputs((1, -1)))
        if inputs is None:  # no inputs at all is a valid op event: stored without the key
            event = writer.add_event("op", "net/conv/Conv2D:0", step=2, value=SUMMARY,
                                     attrs=with_inputs(None))
            assert "inputs" not in event.attrs
            return
        with pytest.raises(UsageError, match="cannot (record a op event with these attrs|store a int in trace metadata)"):
            writer.add_event("op", "net/conv/Conv2D:0", step=2, value=SUMMARY, attrs=with_inputs(inputs))
        # nothing was written for it: the next event takes its seq
        assert writer.add_event("op", "net/conv/Conv2D:0", step=2, value=SUMMARY,
                                attrs=with_inputs((1, 0))).seq == 2
    events = open_trace(tmp_path / "t.zarr").events
    assert [e.attrs["inputs"] for e in events] == [[0, -1], [1, -1], [1, 0]]


def test_inputs_the_full_check_accepts_are_stored_as_it_stores_them(tmp_path) -> None:
    # after the first, the same number of plain ints takes the per-event check (a list,
    # the extreme ints); the others take the full check (a numpy int, another length)
    given = [(0, -1), [1, 2], (2 ** 64 - 1, -(2 ** 63)), (np.int64(3), -1), (4, 5, 6), ()]
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as writer:
        for step, inputs in enumerate(given):
            writer.add_event("op", "net/conv/Conv2D:0", step=step, value=SUMMARY,
                             attrs=with_inputs(inputs))
        # another kind with the same field objects is not an op: its own check refuses it
        with pytest.raises(UsageError, match="the attrs of a layer event"):
            writer.add_event("layer", "net/conv", value=SUMMARY, attrs=with_inputs((0, -1)))
    events = open_trace(tmp_path / "t.zarr").events
    assert [e.attrs["inputs"] for e in events] == [[0, -1], [1, 2], [2 ** 64 - 1, -(2 ** 63)],
                                                   [3, -1], [4, 5, 6], []]
    assert all(e.attrs["op_attrs"] == {"padding": "SAME", "strides": [1, 1, 1, 1]} for e in events)


@pytest.mark.parametrize("compact", [False, True], ids=["plain-log", "compact-log"])
def test_packed_records_are_the_bytes_of_the_records(compact: bool) -> None:
    # packed_event_record splices the packed attrs into the record: byte for byte what
    # packing the record's map gives, for every shape of record.
    op = STATIC.replace(inputs=(3, -1))
    events = [
        (Event(0, EventKind.OP, "a:0", 0, 0, 0.1, (2, 3), "float32", Stats(6, -1.0, 2.0, 0.5), None, None,
               op), None),
        (Event(7, EventKind.OP, "a:0", 4, 2, 0.2, (2, 3), "float32", Stats(6, -1.0, 2.0, 0.5, 1, 2),
               f"{digest.DIGEST_SCHEME}:" + "0" * 64, "arrays/7", op), b"\x01\x02\x03\x04"),
        (Event(8, EventKind.VARIABLE, "w", 0, 0, 0.3, attrs=VariableAttrs(trainable=True)), None),
        (Event(9, EventKind.ENDPOINT, "e", 1, 0, 0.4, (), "float64", Stats(1, 1.0, 1.0, 1.0)), None),
    ]
    for event, leaves in events:
        attrs = pack(event.attrs.to_dict(), "attrs")
        assert packed_event_record(event, leaves, compact, attrs) == \
            pack(event_record(event, leaves, compact), "event record"), event
