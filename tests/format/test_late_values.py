"""Format version 4: a value stored after its event (``value`` record) and the ``stopped``
run status, written only by recordings against a trace, since version 5 with the compact
log (tests/format/test_compact_log.py); version 3 stays what others write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tftrace
from tftrace.errors import TraceFormatError, UsageError
from tftrace.format.status import RunStatus
from tftrace.format.writer import TraceWriter


def test_a_value_written_after_its_event_reads_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "t.zarr"
    values = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, 2], np.int64),
              "c": np.float16(2.5)}
    with TraceWriter.create(path, capture="stats", late_values=True) as writer:
        events = {name: writer.add_event("endpoint", name, value=value) for name, value in values.items()}
        writer.add_event("endpoint", "later", value=np.ones(3, np.float32))
        writer.add_value(events["a"], values["a"])  # after a later event
        writer.add_value(events["c"], values["c"])
    trace = tftrace.open(path)
    assert trace.format_version == 5 and trace.complete
    assert [e.stored for e in trace.events] == [True, False, True, False]
    np.testing.assert_array_equal(trace.array("a"), values["a"])
    assert trace.array("c").dtype == np.float16 and trace.array("c") == np.float16(2.5)
    # the statistics and digest are the event's own, computed when it was written
    assert trace.events[0].digest == events["a"].digest


def test_plain_recordings_are_version_6_and_refuse_late_values(tmp_path: Path) -> None:
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as writer:
        event = writer.add_event("endpoint", "x", value=np.ones(2, np.float32))
        with pytest.raises(UsageError, match="late_values=True"):
            writer.add_value(event, np.ones(2, np.float32))
    assert tftrace.open(tmp_path / "t.zarr").format_version == 6


@pytest.mark.parametrize("value, match", [
    pytest.param(np.ones(3, np.float32), "expected an event without a stored value of float32", id="shape"),
    pytest.param(np.ones(2, np.float64), "expected an event without a stored value of float32", id="dtype"),
])
def test_a_value_that_is_not_the_event_s_is_refused(tmp_path: Path, value: np.ndarray, match: str) -> None:
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats", late_values=True) as writer:
        event = writer.add_event("endpoint", "x", value=np.ones(2, np.float32))
        with pytest.raises(UsageError, match=match):
            writer.add_value(event, value)
        writer.add_value(event, np.ones(2, np.float32))
        with pytest.raises(UsageError, match="already has a value record"):
            writer.add_value(event, np.ones(2, np.float32))
    assert tftrace.open(tmp_path / "t.zarr").events[0].stored


@pytest.mark.parametrize("record, match", [
    pytest.param({"type": "value", "seq": 5, "array_key": "arrays/5"}, "seq: expected the seq of an earlier event",
                 id="unknown-seq"),
    pytest.param({"type": "value", "seq": 0, "array_key": "arrays/1"}, "expected array_key 'arrays/0'",
                 id="other-key"),
    pytest.param({"type": "value", "seq": 0, "array_key": "../../etc"}, "expected array_key 'arrays/0'",
                 id="escaping-key"),
])
def test_a_bad_value_record_is_a_format_error(tmp_path: Path, record: dict, match: str) -> None:
    writer = TraceWriter.create(tmp_path / "t.zarr", capture="stats", late_values=True)
    writer.add_event("endpoint", "x", value=np.ones(2, np.float32))
    writer._append(record)  # what a hostile or corrupted trace could hold
    writer.close()
    with pytest.raises(TraceFormatError, match=match):
        tftrace.open(tmp_path / "t.zarr")


def test_a_value_record_in_a_version_6_trace_is_refused(tmp_path: Path) -> None:
    writer = TraceWriter.create(tmp_path / "t.zarr", capture="stats")
    writer.add_event("endpoint", "x", value=np.ones(2, np.float32))
    writer._append({"type": "value", "seq": 0, "array_key": "arrays/0"})
    writer.close()
    with pytest.raises(TraceFormatError, match="unknown log record type 'value'"):
        tftrace.open(tmp_path / "t.zarr")


def test_a_stopped_run_reads_as_stopped_and_not_complete(tmp_path: Path) -> None:
    writer = TraceWriter.create(tmp_path / "t.zarr", capture="stats", late_values=True)
    writer.add_event("endpoint", "x", value=np.ones(2, np.float32))
    writer.close(complete=False, status=RunStatus("stopped"))
    trace = tftrace.open(tmp_path / "t.zarr")
    assert (trace.status.status, trace.complete) == ("stopped", False)
    from tftrace.report.show import show_lines
    assert next(iter(list(show_lines(trace))[1:2])) == (
        "format   tftrace v5, INCOMPLETE: the run was stopped at its first divergence "
        "(--stop-at-first-divergence); every event up to the stop")
