"""Names a trace cannot store are refused at the call; the recording goes on intact."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.errors import UsageError
from tftrace.format.reader import open_trace
from tftrace.format.schema import MAX_NAME_CHARS
from tftrace.format.writer import TraceWriter


@pytest.mark.parametrize("name, message", [
    pytest.param("bad\udc80", "is not valid Unicode text: surrogates not allowed at character 3",
                 id="lone-surrogate"),
    pytest.param("x" * (MAX_NAME_CHARS + 1), f"is {MAX_NAME_CHARS + 1} characters long; expected "
                 f"at most {MAX_NAME_CHARS}", id="too-long"),
    pytest.param("", "must be a non-empty string", id="empty"),
])
def test_unstorable_endpoint_name_is_refused_and_recording_goes_on(tmp_path, name, message):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        rec.endpoint("before", np.ones(2))
        with pytest.raises(UsageError, match=message):
            rec.endpoint(name, np.ones(2))

        @tf.function
        def f(x):
            with pytest.raises(UsageError, match=message):  # at tracing, not at execution
                tftrace.endpoint(name, x)
            tftrace.endpoint("inside", x * 2)
            return x

        f(tf.ones(3))
        rec.endpoint("after", np.zeros(2))
    trace = open_trace(tmp_path / "t.zarr")
    assert trace.status.status == "completed"
    assert [(e.seq, e.name) for e in trace.events] == [(0, "before"), (1, "inside"), (2, "after")]
    np.testing.assert_array_equal(trace.array("inside"), [2.0, 2.0, 2.0])
    assert sorted(p.name for p in (tmp_path / "t.zarr" / "arrays").iterdir()) == \
        ["0", "1", "2", "zarr.json"]


def test_writer_rolls_back_an_event_it_cannot_log(tmp_path):
    writer = TraceWriter.create(tmp_path / "t.zarr")
    with pytest.raises(UsageError, match="UTF-8 cannot encode"):
        writer.add_event("endpoint", "x", value=np.ones(3), attrs={"call_site": "a\udc80b"})
    with pytest.raises(UsageError, match="characters long"):
        writer.add_event("endpoint", "y" * (MAX_NAME_CHARS + 1), value=np.ones(3))
    event = writer.add_event("endpoint", "z", value=np.arange(4))
    writer.close()
    assert event.seq == 0
    trace = open_trace(tmp_path / "t.zarr")
    assert [e.name for e in trace.events] == ["z"]
    np.testing.assert_array_equal(trace.array("z"), np.arange(4))


def test_a_script_with_a_too_long_name_exits_2_and_leaves_a_readable_trace(tmp_path):
    script = tmp_path / "long.py"
    script.write_text(textwrap.dedent(f"""
        import tensorflow as tf
        import tftrace
        tftrace.endpoint("ok", tf.ones(2))
        tftrace.endpoint("n" * {MAX_NAME_CHARS + 1}, tf.ones(2))
    """))
    result = CliRunner().invoke(cli, ["record", "-o", str(tmp_path / "t.zarr"), str(script)])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        f"tftrace: wrote {tmp_path / 't.zarr'}: 1 event (endpoint 1); the run raised UsageError",
        f"Error: endpoint name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn'... is {MAX_NAME_CHARS + 1} "
        f"characters long; expected at most {MAX_NAME_CHARS} (what a trace reader accepts); choose "
        f"a shorter name"]
    trace = open_trace(tmp_path / "t.zarr")
    assert [e.name for e in trace.events] == ["ok"]
    assert (trace.status.status, trace.status.exception_type) == ("raised", "UsageError")
