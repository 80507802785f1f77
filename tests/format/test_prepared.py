"""Prepared events (format/prepared.py): written through ``add_prepared``, their records
are the bytes the per-event path (``add_event``, its record packed from the record's map)
writes for the same event, whatever the statistics, shape, attrs and occurrences; what
the prepared path cannot write takes the per-event path, which refuses what it refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from tftrace.errors import TraceClosedError, UsageError
from tftrace.format import occurrences, prepared as prepared_module, writer as writer_module
from tftrace.format.compact_log import event_record
from tftrace.format.events import EndpointAttrs, LayerAttrs, OpAttrs
from tftrace.format.packing import pack
from tftrace.format.reader import open_trace
from tftrace.format.schema import Stats, ValueSummary
from tftrace.format.writer import TraceWriter
from tests.format.log_records import event_records

OP = OpAttrs(op_type="Conv2D", layer="net/conv", name_scope="net/conv",
             op_attrs={"padding": "SAME", "strides": [1, 1, 1, 1], "epsilon": 0.001},
             inputs=(-1, -1), input_names=("net/relu:0", "variable:net/conv/kernel"),
             mode="function", function="__inference_step_1", output_index=0)
#: (value, inputs) per event: other shapes, dtypes, None statistics, NaN/Inf counts,
#: numpy scalars where floats are expected, ints of every msgpack width.
GIVEN: list[tuple[ValueSummary, Any]] = [
    (ValueSummary((2, 3), "float32", Stats(6, -1.0, 2.0, 0.5)), [-1, -1]),
    (ValueSummary((2, 3), "float32", Stats(6, -1.5, 2.5, 0.25, 1, 2)), [0, -1]),
    (ValueSummary((0,), "float32", Stats(0)), [1, 127]),
    (ValueSummary((), "float64", Stats(1, 3.0, 3.0, 3.0)), [128, -33]),
    (ValueSummary((4, 1), "bfloat16", Stats(4, np.float32(0.5), np.float64(1.0), 0.75)), (70000, -129)),
    (ValueSummary((2, 3), "float32", Stats(6, float("nan"), float("inf"), -0.0, 6, 0)), [2 ** 40, -(2 ** 40)]),
    (ValueSummary((2, 3), "float32", Stats(6, -1.0, 2.0, 0.5)), [2 ** 64 - 1, -(2 ** 63)]),
]


def records(path: Path) -> list[dict[str, Any]]:
    """The event records of the trace's log, as stored, without their time."""
    out = []
    for segment in sorted((path / "log").iterdir(), key=lambda p: int(p.name)):
        with open(segment, "rb") as stream:
            for record in msgpack.Unpacker(stream, raw=False, strict_map_key=False):
                if record.get("type") == "event":
                    out.append({k: v for k, v in record.items() if k != "t"})
    return out


def write(path: Path, prepared: bool, attrs: Any = OP, kind: str = "op") -> list[bytes]:
    """Every GIVEN event, twice in step 0 then once in step 1; returns each record's bytes."""
    packed: list[bytes] = []
    with TraceWriter.create(path, capture="stats") as writer:
        if prepared:
            event = writer.prepare(kind, "net/conv/Conv2D:0", attrs)
        for step in (0, 0, 1):
            for value, inputs in GIVEN:
                inputs = inputs if kind == "op" else None
                before = len(writer._pending)
                if prepared:
                    writer.add_prepared(event, step, value, inputs)
                else:
                    given = attrs.replace(inputs=tuple(inputs)) if kind == "op" else attrs
                    writer.add_event(kind, "net/conv/Conv2D:0", step=step, value=value, attrs=given)
                packed.append(writer._pending[before] if len(writer._pending) > before else b"")
    return packed


@pytest.mark.parametrize("kind,attrs", [("op", OP), ("layer", LayerAttrs(layer_type="Conv2D")),
                                        ("endpoint", EndpointAttrs())],
                         ids=["op-inputs-spliced", "layer-attrs-constant", "endpoint-no-attrs"])
def test_prepared_records_are_the_per_event_records(tmp_path, kind, attrs) -> None:
    write(tmp_path / "prepared.zarr", True, attrs, kind)
    write(tmp_path / "per_event.zarr", False, attrs, kind)
    prepared, per_event = records(tmp_path / "prepared.zarr"), records(tmp_path / "per_event.zarr")
    assert len(prepared) == 3 * len(GIVEN)
    n = len(GIVEN)  # one name: the k-th event of a step is occurrence k
    assert [r.get("occ", 0) for r in prepared] == list(range(2 * n)) + list(range(n))
    # NaN != NaN: compare the packed records, field by field
    assert [pack(r, "r") for r in prepared] == [pack(r, "r") for r in per_event]
    # read back: the same events, field by field
    a, b = open_trace(tmp_path / "prepared.zarr").events, open_trace(tmp_path / "per_event.zarr").events
    for x, y in zip(a, b, strict=True):
        assert pack({**x.to_dict(), "t": 0}, "e") == pack({**y.to_dict(), "t": 0}, "e")
    # negative control: one edge changed is seen
    changed = [dict(r) for r in per_event]
    if kind == "op":
        changed[3] = {**changed[3], "attrs": {**changed[3]["attrs"], "inputs": [128, -32]}}
    else:
        changed[3] = {**changed[3], "occ": 1}
    assert [pack(r, "r") for r in prepared] != [pack(r, "r") for r in changed]


def test_prepared_record_bytes_are_the_records_map_packed(tmp_path) -> None:
    # byte for byte, with the time included: packing the Event's record map gives them
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as writer:
        event = writer.prepare("op", "a:0", OP)
        for step, (value, inputs) in enumerate(GIVEN):
            seq = writer.add_prepared(event, step, value, inputs)
            record = writer._pending[-1]
            t = msgpack.unpackb(record, raw=False)["t"]
            written = writer.add_event("op", "a:0", step=step, value=value,
                                       attrs=OP.replace(inputs=tuple(inputs)))
            expected = event_record(written, None, False)
            expected.update(seq=seq, occ=0, t=t)
            assert record == pack(expected, "event record"), (step, value)


@pytest.mark.parametrize("inputs", [(True, -1), (1.5, -1), ("0", -1), ([0], -1), (np.int64(3), -1),
                                    (2 ** 64, -1), (-(2 ** 63) - 1, -1), (0,), None],
                         ids=["bool", "float", "str", "nested", "numpy-int", "huge", "tiny", "shorter",
                              "none"])
def test_inputs_the_prepared_path_cannot_splice_take_the_per_event_path(tmp_path, inputs) -> None:
    value = GIVEN[0][0]
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as writer:
        event = writer.prepare("op", "a:0", OP)
        writer.add_prepared(event, 0, value, [-1, -1])
        if inputs in [(np.int64(3), -1), (0,), None]:  # the per-event path stores these
            writer.add_prepared(event, 1, value, inputs)
        else:
            with pytest.raises(UsageError, match="cannot (record a op event|store a int)"):
                writer.add_prepared(event, 1, value, inputs)
        writer.add_prepared(event, 1, value, [0, -1])  # the next seq was not taken
    events = open_trace(tmp_path / "t.zarr").events
    assert [e.seq for e in events] == list(range(len(events)))
    if inputs in [(np.int64(3), -1), (0,), None]:
        want = {None: None, (0,): [0]}.get(inputs, [3, -1])  # type: ignore[arg-type]
        assert events[1].attrs.get("inputs") == want
        assert [e.occurrence for e in events] == [0, 0, 1]
    else:
        assert [e.attrs["inputs"] for e in events] == [[-1, -1], [0, -1]]


def test_prepared_attrs_and_names_are_refused_as_add_event_refuses_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(occurrences, "HELD_KEYS", 4)  # old steps' counters dropped early
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as writer:
        for kind, name, attrs in [("op", "a:0", OP.replace(op_attrs={"x": object()})),
                                  ("op", "a:0", OP.replace(op_attrs={"x": "\ud800"})),
                                  ("nope", "a:0", OP), ("op", "a\ud800", OP), ("op", "x" * 100_000, OP),
                                  ("op", 7, OP), ("layer", "a", OP)]:
            with pytest.raises(UsageError) as per_event:
                writer.add_event(kind, name, value=GIVEN[0][0], attrs=attrs)
            with pytest.raises(UsageError) as prepared:
                writer.prepare(kind, name, attrs)
            assert str(prepared.value) == str(per_event.value)
        event = writer.prepare("op", "a:0", OP)
        for step in range(7):
            writer.add_prepared(event, step, GIVEN[0][0], [-1, -1])
        with pytest.raises(UsageError, match="comes after step 6"):
            writer.add_prepared(event, 2, GIVEN[0][0], [-1, -1])
        assert writer.add_prepared(event, 6, GIVEN[0][0], [-1, -1]) == 7
    with pytest.raises(TraceClosedError):
        writer.add_prepared(event, 6, GIVEN[0][0], [-1, -1])
    assert [e.occurrence for e in open_trace(tmp_path / "t.zarr").events] == [0] * 7 + [1]


def test_an_array_value_or_the_compact_log_takes_the_per_event_path(tmp_path, monkeypatch) -> None:
    built = []
    record = prepared_module.PreparedEvent.record
    monkeypatch.setattr(prepared_module.PreparedEvent, "record",
                        lambda self, *a: built.append(1) or record(self, *a))
    array = np.array([1.0, -2.0], np.float32)
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats", late_values=True) as writer:
        event = writer.prepare("op", "a:0", OP)
        writer.add_prepared(event, 0, GIVEN[0][0], [-1, -1])
    with TraceWriter.create(tmp_path / "u.zarr", capture="stats") as writer:
        event = writer.prepare("op", "a:0", OP)
        writer.add_prepared(event, 0, array, [-1, -1])
        writer.add_prepared(event, 0, GIVEN[0][0], [0, -1])
    assert built == [1]  # only the statistics in the plain log
    compact, plain = open_trace(tmp_path / "t.zarr").events, open_trace(tmp_path / "u.zarr").events
    assert compact[0].stats == GIVEN[0][0].stats and compact[0].attrs["inputs"] == [-1, -1]
    assert plain[0].digest is not None and plain[0].stats.min == -2.0  # the array's digest
    assert [e.occurrence for e in plain] == [0, 1]


SCRIPT = textwrap.dedent("""
    import sys, time
    from tftrace.format.events import OpAttrs
    from tftrace.format.schema import Stats, ValueSummary
    from tftrace.format.writer import TraceWriter
    writer = TraceWriter.create(sys.argv[1], capture="stats")
    event = writer.prepare("op", "a:0", OpAttrs(op_type="Relu", inputs=(-1,), mode="function"))
    value = ValueSummary((3,), "float32", Stats(3, 0.0, 1.0, 0.5))
    for n in range(1200):
        writer.add_prepared(event, n, value, [n - 1])
    print("written", flush=True)
    time.sleep(600)
""")


def test_killed_after_prepared_events_keeps_those_flushed(tmp_path) -> None:
    path = tmp_path / "t.zarr"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(path)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline() == b"written\n"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    trace = open_trace(path)
    assert not trace.complete
    # flushed every FLUSH_RECORDS records (or FLUSH_SECONDS): the first 1024 at least
    events = [e for e in trace.events if e.kind == "op"]
    assert len(events) >= 2 * writer_module.FLUSH_RECORDS
    assert [(e.step, e.attrs["inputs"]) for e in events] == [(n, [n - 1]) for n in range(len(events))]
    assert all(e.stats == Stats(3, 0.0, 1.0, 0.5) for e in events)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "control-one-edge-changed"])
def test_a_batch_writes_the_records_add_prepared_writes(tmp_path, batched) -> None:
    # Per step: op "a:0", a layer, "a:0" again (occurrence 1 in the same batch), op "b:0"
    # whose input is the second "a:0" (its seq from its position); 60 steps: seqs across
    # msgpack's int widths (127/128, 255/256). The same events one by one through
    # add_prepared are the reference; the control changes one edge of the batches.
    names = [("op", "a:0", OP), ("layer", "net/conv", LayerAttrs(layer_type="Conv2D")), ("op", "a:0", OP),
             ("op", "b:0", OP.replace(inputs=(-1,)))]
    value = ValueSummary((2, 3), "float32", Stats(6, -1.0, 2.0, 0.5))
    written: dict[str, list[bytes]] = {}
    for path in ("batches", "one_by_one"):
        with TraceWriter.create(tmp_path / f"{path}.zarr", capture="stats") as writer:
            events = {(kind, name): writer.prepare(kind, name, attrs) for kind, name, attrs in names}
            batch = [events[(kind, name)] for kind, name, _ in names]
            for step in range(60):
                lows, highs = [-1.0 - step, -2.0, 0.0, 1e-300], [2.0, step / 3, 0.5, 1e300]
                means = [0.5, -0.0, float(step), 7.0]

                def inputs(seq: int) -> list[Any]:
                    wrong = path == "batches" and step > 0 and not batched
                    return [[seq - 1, -1], None, [seq - 3, 2 ** 40], [seq + 2 + wrong]]

                if path == "batches" and step:  # step 0 prepares each event's values
                    assert writer.add_prepared_batch(batch, step, lows, highs, means, inputs) == writer._seq - 4
                    continue
                for k, event in enumerate(batch):
                    summary = ValueSummary(value.shape, value.dtype, Stats(6, lows[k], highs[k], means[k]))
                    writer.add_prepared(event, step, summary, inputs(writer._seq - k)[k])
        written[path] = event_records(tmp_path / f"{path}.zarr")
    assert len(written["batches"]) == len(written["one_by_one"]) == 240
    occurrences = [r["occ"] for r in records(tmp_path / "batches.zarr")[4:8]]
    assert occurrences == [0, 0, 1, 0]
    if batched:
        assert written["batches"] == written["one_by_one"]
    else:
        assert written["batches"][:4] == written["one_by_one"][:4]  # step 0: one by one in both
        assert written["batches"][4:] != written["one_by_one"][4:]


def test_occurrences_in_a_batch_are_those_of_one_event_after_the_other() -> None:
    # "x" three times and "y" once at step 3, then again: occurrences counted by hand
    counters = occurrences.Occurrences()
    keys = [("op", "x"), ("op", "y"), ("op", "x"), ("op", "x")]
    first = counters.next_many(keys, 3)
    counters.written_many(keys, 3, first)
    second = counters.next_many(keys, 3)
    assert (first, second) == ([0, 0, 1, 2], [3, 1, 4, 5])
    assert counters.next("op", "x", 3) == 3  # nothing counted by next_many
    counters.written_many(keys, 3, second)
    assert [counters.next("op", n, 3) for n in ("x", "y")] == [6, 2]
    assert len(counters) == 2 and counters.next("op", "x", 4) == 0
