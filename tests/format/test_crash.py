"""A recording process killed with SIGKILL leaves a trace that opens, incomplete, with its flushed events."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import tftrace
from tests.format.killing import kill_after_flushes

WRITER_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from tftrace.format.writer import TraceWriter
    path, container = sys.argv[1], sys.argv[2]
    w = TraceWriter.create(path, environment={"who": "crash-test"})
    i = 0
    while True:  # until killed
        w.add_event("endpoint", f"value/{i}", step=i // 10, value=np.full((64, 64), i, np.float32))
        if i % 5 == 4:
            w.flush()
            print(f"flushed {i + 1}", flush=True)
        i += 1
""")


@pytest.mark.parametrize("container", ["dir", "zip"])
def test_sigkill_mid_recording_keeps_flushed_events(tmp_path: Path, container: str) -> None:
    path = tmp_path / ("run.zarr" if container == "dir" else "run.zarr.zip")
    flushed = kill_after_flushes(WRITER_SCRIPT, str(path), container)

    trace = tftrace.open(path)  # a zip target reads its .partial directory
    assert trace.complete is False
    assert trace.environment["who"] == "crash-test"
    assert len(trace.events) >= flushed
    for ev in trace.events:  # every logged event's array is whole
        i = int(ev.name.split("/")[1])
        assert ev.seq == i and ev.step == i // 10
        np.testing.assert_array_equal(trace.array(ev), np.full((64, 64), i, np.float32))


def test_closed_as_failed_is_incomplete(tmp_path: Path) -> None:
    from tftrace.format.writer import TraceWriter

    with pytest.raises(RuntimeError):
        with TraceWriter.create(tmp_path / "t.zarr") as w:
            w.add_event("endpoint", "x", value=np.ones(3))
            raise RuntimeError("the user's script failed")
    trace = tftrace.open(tmp_path / "t.zarr")
    assert not trace.complete and len(trace.events) == 1
