"""Errors writing the trace (here: a file-size limit, as a full disk) are tftrace errors:
exit 2 with the path and the OS error, one line, distinct from the script's own failures."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli

TFTRACE = str(Path(sys.executable).with_name("tftrace"))
LIMIT = 1 << 20

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    import tftrace
    tftrace.endpoint("small", np.ones(4))
    if sys.argv[1] == "eager":
        tftrace.endpoint("big", np.random.rand(1 << 20).astype(np.float32))  # 4 MB
    else:
        @tf.function
        def f(x):
            tftrace.endpoint("big", x * 2)
            return x
        try:
            f(tf.random.uniform((1 << 20,)))
        except Exception as exc:  # the program swallows it: the recording must not
            print("caught", type(exc).__name__)
    print("went on")
""")


def small_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


@pytest.mark.parametrize("where", ["eager", "function"])
def test_a_trace_that_cannot_be_written_is_exit_2_with_the_os_error(tmp_path, where):
    script = tmp_path / "big.py"
    script.write_text(SCRIPT)
    out = tmp_path / "t.zarr"
    proc = subprocess.run([TFTRACE, "record", "-o", str(out), str(script), where],
                          preexec_fn=small_files, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"Error: {out}: cannot write the trace: File too large; free some space, fix the "
        f"permissions or record to another path")
    trace = tftrace.open(out)  # what was written stays readable, and says the run failed
    assert [e.name for e in trace.events] == ["small"]
    assert (trace.status.status, trace.status.exception_type) == ("raised", "TraceWriteError")
    assert not list((out / "arrays").glob("1"))  # no half-written array left behind


def test_the_same_script_records_without_the_limit(tmp_path):
    """Negative control: the limit, not the script, is what fails."""
    script = tmp_path / "big.py"
    script.write_text(SCRIPT)
    result = CliRunner().invoke(cli, ["record", "-o", str(tmp_path / "t.zarr"), str(script), "eager"])
    assert result.exit_code == 0, result.output
    assert [e.name for e in tftrace.open(tmp_path / "t.zarr").events] == ["small", "big"]


def _unwritable_directory() -> Path:
    """A directory this process cannot create files in, even as root (sysfs refuses)."""
    probe = Path("/sys/tftrace-probe")
    try:
        probe.open("w").close()
    except OSError:
        return probe.parent
    probe.unlink()
    pytest.skip("/sys accepts new files here: no directory that refuses root")


def test_a_trace_in_a_directory_that_refuses_it_is_exit_2_with_the_os_error(tmp_path):
    directory = _unwritable_directory()
    try:  # what the OS says, found independently of tftrace
        (directory / "t.zarr.lock").open("x").close()
    except OSError as exc:
        os_error = exc.strerror
    else:
        pytest.skip(f"{directory} accepts the lock file")
    script = tmp_path / "ok.py"
    script.write_text("print('ran')\n")
    out = directory / "t.zarr"
    proc = subprocess.run([TFTRACE, "record", "-o", str(out), str(script)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"Error: {out}: cannot write the trace: {os_error} ({out}.lock); free some space, fix "
        f"the permissions or record to another path")
    assert "ran" not in proc.stdout  # refused before the script runs: nothing is half-recorded
