"""A trace says how its run ended, and diff/check never pass a run that did not complete.

Real `tftrace record` processes: a script that raises, one stopped with Ctrl-C or
SIGTERM, one killed with SIGKILL; and the Python API.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli

TFTRACE = str(Path(sys.executable).with_name("tftrace"))

RAISES = textwrap.dedent("""
    import tensorflow as tf
    import tftrace
    tftrace.endpoint("x", tf.random.uniform((3,)))
    raise RuntimeError("boom")
""")

WAITS = textwrap.dedent("""
    import sys, time
    import tensorflow as tf
    import tftrace
    tftrace.endpoint("x", tf.random.uniform((3,)))
    print("ready", flush=True)
    # Short sleeps, like the steps of a training loop: a signal the kernel hands to one of
    # TensorFlow's threads only sets CPython's flag, which the main thread checks between
    # bytecodes; one 60 s sleep would not see it until it ends.
    for _ in range(600):
        time.sleep(0.1)
""")


def record_script(tmp_path: Path, text: str, out: str) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    script.write_text(text)
    return subprocess.Popen([TFTRACE, "record", "-o", str(tmp_path / out), str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_script_that_raises_never_diffs_equivalent(tmp_path):
    script = tmp_path / "raises.py"
    script.write_text(RAISES)
    runner = CliRunner()
    for out in ("a.zarr", "b.zarr"):
        recorded = runner.invoke(cli, ["record", "-o", str(tmp_path / out), str(script)])
        assert recorded.exit_code == 1
    trace = tftrace.open(tmp_path / "a.zarr")
    assert not trace.complete
    assert (trace.status.status, trace.status.exception_type, trace.status.message) == \
        ("raised", "RuntimeError", "boom")
    assert 'raise RuntimeError("boom")' in trace.status.traceback

    result = runner.invoke(cli, ["diff", str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:4] == [
        "tftrace diff: NOT EQUIVALENT: A RUN DID NOT COMPLETE",
        "  A did not complete: the run raised RuntimeError: boom",
        "  B did not complete: the run raised RuntimeError: boom",
        "  an unfinished run proves nothing past its end; compare its prefix anyway with "
        "--allow-incomplete"]
    document = json.loads(runner.invoke(cli, ["diff", "--format", "json", str(tmp_path / "a.zarr"),
                                              str(tmp_path / "b.zarr")]).output)
    assert (document["equivalent"], document["verdict"], document["a"]["status"]) == \
        (False, "incomplete", "raised")

    # The prefix (one random op, one endpoint, equal under the same seed) may be accepted.
    prefix = runner.invoke(cli, ["diff", "--allow-incomplete", str(tmp_path / "a.zarr"),
                                 str(tmp_path / "b.zarr")])
    assert prefix.exit_code == 0, prefix.output
    assert prefix.output.startswith("tftrace diff: EQUIVALENT UP TO THE END OF AN UNFINISHED RUN\n"
                                    "  A did not complete: the run raised RuntimeError: boom\n")

    check = runner.invoke(cli, ["check", str(tmp_path / "a.zarr")])
    assert check.exit_code == 1
    assert "- the run did not complete: it raised RuntimeError: boom (last: event #1)" in check.output


@pytest.mark.parametrize("signum, exit_code", [pytest.param(signal.SIGINT, 130, id="ctrl-c"),
                                                pytest.param(signal.SIGTERM, 143, id="sigterm")])
def test_a_signal_closes_the_trace_as_interrupted(tmp_path, signum, exit_code):
    proc = record_script(tmp_path, WAITS, "t.zarr")
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == exit_code, stderr[-2000:]
    assert "Traceback" not in stderr
    trace = tftrace.open(tmp_path / "t.zarr")
    assert (trace.status.status, trace.status.signal) == ("interrupted", signal.Signals(signum).name)
    assert not trace.complete and [e.kind for e in trace.events] == ["random_op", "endpoint"]


def test_a_killed_recording_reads_as_killed(tmp_path):
    proc = record_script(tmp_path, WAITS, "t.zarr.zip")
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.kill()
    proc.wait(timeout=60)
    trace = tftrace.open(tmp_path / "t.zarr.zip")  # its .partial directory
    assert trace.status.status == "killed" and not trace.complete
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "t.zarr.zip")])
    assert result.exit_code == 1 and "it was killed (no end record)" in result.output


def test_two_empty_traces_are_not_equivalent(tmp_path):
    for name in ("a.zarr", "b.zarr"):
        with tftrace.record(tmp_path / name):
            pass
    result = tftrace.diff(tmp_path / "a.zarr", tmp_path / "b.zarr")
    assert (result.equivalent, result.verdict, result.compared) == (False, "nothing-compared", 0)
    out = CliRunner().invoke(cli, ["diff", str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")])
    assert out.exit_code == 1
    assert out.output.startswith("tftrace diff: NOT EQUIVALENT: NOTHING WAS COMPARED\n  nothing was "
                                 "compared: no event of the compared kinds (variables, random ops, "
                                 "endpoints, snapshots, layers, ops, gradients, optimizer hyperparameters, "
                                 "optimizer state) is in both traces (A has 0 events, B 0)\n")
    # Negative control: one compared event makes the same pair a pass.
    for name in ("c.zarr", "d.zarr"):
        with tftrace.record(tmp_path / name) as rec:
            rec.endpoint("x", np.arange(3))
    assert tftrace.diff(tmp_path / "c.zarr", tmp_path / "d.zarr").verdict == "equivalent"


def test_traces_without_a_status_key_read_as_before(tmp_path):
    from tftrace.format.writer import TraceWriter

    for name, complete in (("done.zarr", True), ("failed.zarr", False)):
        writer = TraceWriter.create(tmp_path / name)
        writer.add_event("endpoint", "x", value=np.ones(2))
        writer._append({"type": "end", "end_time": 0.0, "complete": complete, "event_count": 1})
        writer.flush()
        writer._closed = True
        writer._workers.shutdown()
    assert tftrace.open(tmp_path / "done.zarr").status.status == "completed"
    assert tftrace.open(tmp_path / "failed.zarr").status.status == "raised"


def test_sys_exit_zero_completes_and_keyboard_interrupt_interrupts(tmp_path):
    with pytest.raises(SystemExit):
        with tftrace.record(tmp_path / "ok.zarr") as rec:
            rec.endpoint("x", 1)
            sys.exit(0)
    assert tftrace.open(tmp_path / "ok.zarr").status.status == "completed"
    with pytest.raises(KeyboardInterrupt):
        with tftrace.record(tmp_path / "int.zarr") as rec:
            rec.endpoint("x", 1)
            raise KeyboardInterrupt
    status = tftrace.open(tmp_path / "int.zarr").status
    assert (status.status, status.signal) == ("interrupted", "SIGINT")
