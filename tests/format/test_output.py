"""The output path of a recording: --overwrite for both layouts, one recorder per path, umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.errors import TraceLockedError
from tftrace.format import store
from tftrace.format.writer import TraceWriter

TFTRACE = str(Path(sys.executable).with_name("tftrace"))
SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tftrace
    tftrace.endpoint("value", np.full(3, float(sys.argv[1])))
""")


@pytest.mark.parametrize("name", ["t.zarr", "t.zarr.zip"])
def test_overwrite_replaces_either_layout(tmp_path, name):
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    out = str(tmp_path / name)
    runner = CliRunner()
    assert runner.invoke(cli, ["record", "-o", out, str(script), "1"]).exit_code == 0
    again = runner.invoke(cli, ["record", "-o", out, str(script), "2"])
    assert again.exit_code == 2 and "already exists; choose another path or replace it (use --overwrite)" in again.output
    replaced = runner.invoke(cli, ["record", "--overwrite", "-o", out, str(script), "3"])
    assert replaced.exit_code == 0, replaced.output
    np.testing.assert_array_equal(tftrace.open(out).array("value"), [3.0, 3.0, 3.0])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["s.py", name])  # no lock left


@pytest.mark.parametrize("name", ["t.zarr", "t.zarr.zip"])
def test_a_second_writer_to_the_same_path_fails_and_touches_nothing(tmp_path, name):
    first = TraceWriter.create(tmp_path / name)
    first.add_event("endpoint", "x", value=np.arange(3))
    first.flush()
    with pytest.raises(TraceLockedError, match=rf"{name}: another recording is writing this trace "
                       rf"\(lock .*{name}.lock held by process {os.getpid()}\)"):
        TraceWriter.create(tmp_path / name, overwrite=True)
    first.add_event("endpoint", "y", value=np.arange(2))
    first.close()
    trace = tftrace.open(tmp_path / name)
    assert [e.name for e in trace.events] == ["x", "y"] and trace.complete
    # Closed: the path is free again, and a stale lock file (a killed recorder) does not block.
    store.lock_path(tmp_path / name).write_text("12345")
    TraceWriter.create(tmp_path / name, overwrite=True).close()


def test_a_recording_process_holds_its_path_against_another(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        import tftrace
        tftrace.endpoint("first", np.ones(2))
        print("ready", flush=True)
        sys.stdin.readline()
        tftrace.endpoint("second", np.ones(2))
    """))
    out = tmp_path / "t.zarr"
    proc = subprocess.Popen([TFTRACE, "record", "-o", str(out), str(script)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == "ready\n"
    other = tmp_path / "other.py"
    other.write_text(SCRIPT)
    second = CliRunner().invoke(cli, ["record", "--overwrite", "-o", str(out), str(other), "9"])
    assert second.exit_code == 2
    assert second.output.startswith(f"Error: {out}: another recording is writing this trace")
    proc.stdin.write("go\n")
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    trace = tftrace.open(out)
    assert [e.name for e in trace.events] == ["first", "second"] and trace.complete


def test_trace_files_honour_the_umask(tmp_path):
    previous = os.umask(0o002)
    try:
        for name in ("t.zarr", "t.zarr.zip"):
            writer = TraceWriter.create(tmp_path / name)
            writer.add_event("endpoint", "x", value=np.arange(1000))
            writer.close()
    finally:
        os.umask(previous)
    files = [p for p in (tmp_path / "t.zarr").rglob("*") if p.is_file()] + [tmp_path / "t.zarr.zip"]
    assert {p.relative_to(tmp_path).as_posix() for p in files} >= {"t.zarr/log/0", "t.zarr/log/1",
                                                                    "t.zarr/arrays/0/zarr.json"}
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o664}, modes
