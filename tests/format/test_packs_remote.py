"""Packed values on object storage (moto's S3 server on 127.0.0.1): recorded to a prefix and
to a zip URL, and killed mid-recording, every logged value reads back from its pack."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tftrace
from tests.format.test_remote import BUCKET, _objects, _run, s3_env  # noqa: F401 (the fixture)

PROGRAM = textwrap.dedent("""
    import sys, time
    import numpy as np
    from tftrace.format.writer import TraceWriter

    w = TraceWriter.create(sys.argv[1], environment={"host": "test"})
    for i in range(int(sys.argv[2])):
        w.add_event("op", f"v{i}", value=np.arange(512, dtype=np.float32) * i if i % 2
                    else np.zeros((64, 64), np.float32) + i, keep_value=True)
        if i % 10 == 9:
            w.flush()
            print("flushed", i + 1, flush=True)
            time.sleep(float(sys.argv[3]))
    w.close()
""")


def _expected(i: int) -> np.ndarray:
    return np.arange(512, dtype=np.float32) * i if i % 2 else np.zeros((64, 64), np.float32) + i


@pytest.mark.parametrize("name", ["packed.zarr", "packed.zarr.zip"])
def test_packed_values_record_to_s3_and_read_back(s3_env: dict[str, str], tmp_path: Path,  # noqa: F811
                                                  name: str) -> None:
    url = f"s3://{BUCKET}/{name}"
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    done = _run(s3_env, str(script), url, "30", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    if name.endswith(".zarr"):
        keys = [key.split(f"{name}/", 1)[1] for key in _objects(name)]
        assert {key.split("/")[0] for key in keys} == {"zarr.json", "arrays", "log", "packs"}
        assert sorted(k for k in keys if k.startswith("packs/")) == sorted(
            f"packs/{n}/{f}" for n in (1, 2, 3) for f in ("c.0", "zarr.json"))
    with tftrace.open(url) as trace:
        assert trace.complete and len(trace.events) == 30
        for ev in trace.events:
            assert ev.packed is not None
            np.testing.assert_array_equal(trace.array(ev), _expected(int(ev.name[1:])))


def test_a_killed_recording_leaves_its_packed_values_on_the_store(s3_env: dict[str, str],  # noqa: F811
                                                                  tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/killed-packs.zarr"
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    proc = subprocess.Popen([sys.executable, str(script), url, "1000", "0.2"], env=s3_env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["flushed", "10"]
    assert proc.stdout.readline().split() == ["flushed", "20"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with tftrace.open(url) as trace:
        assert trace.status.status == "killed" and len(trace.events) >= 20
        for ev in trace.events:
            np.testing.assert_array_equal(trace.array(ev), _expected(int(ev.name[1:])))
