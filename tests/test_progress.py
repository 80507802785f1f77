"""Progress on stderr for long commands: a click progress bar on a real pseudo-terminal,
nothing when stderr is not a terminal or with --quiet, stdout unchanged either way.

The commands run as subprocesses on the committed sample traces and on a recorded
script; ``TFTRACE_PROGRESS_DELAY=0`` shows the bar at once (the default waits 2 s).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tftrace.format.progress import Work
from tftrace.report.progress import progress_detail, size

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
EAGER = SAMPLES / "inception_v2_eager.zarr.zip"
SESSION = SAMPLES / "inception_v2_session.zarr.zip"
TFTRACE = [sys.executable, "-m", "tftrace"]


def run(args: list[str], *, terminal: bool, delay: str = "0", cwd: Path | None = None
        ) -> tuple[int, str, str]:
    """Run ``tftrace ARGS``; stderr on a pseudo-terminal when ``terminal``, else a pipe.
    Returns (exit code, stdout, stderr)."""
    env = {**os.environ, "TFTRACE_PROGRESS_DELAY": delay, "COLUMNS": "120"}
    if not terminal:
        done = subprocess.run(TFTRACE + args, capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=300)
        return done.returncode, done.stdout, done.stderr
    primary, secondary = pty.openpty()
    process = subprocess.Popen(TFTRACE + args, stdout=subprocess.PIPE, stderr=secondary,
                               stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    os.close(secondary)
    chunks: list[bytes] = []

    def drain() -> None:  # the terminal's buffer must not fill while the command writes
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = process.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(primary)
    return process.returncode, stdout.decode(), b"".join(chunks).decode(errors="replace")


def test_words_of_the_bar() -> None:
    assert size(999) == "999 B"
    assert size(1_536_000) == "1.5 MB"
    assert progress_detail(Work(12, 40, 1_200_000, 8_000_000), "diff", 2.0) == \
        "12/40 pairs, 1.2 MB of 8.0 MB, 600.0 kB/s"
    assert progress_detail(Work(120, None, 0, None), "record", 4.0) == \
        "120 events, 0 B, 30 events/s"


def test_diff_shows_progress_on_a_terminal_and_keeps_stdout() -> None:
    code, stdout, stderr = run(["diff", str(EAGER), str(SESSION)], terminal=True)
    plain_code, plain_stdout, plain_stderr = run(["diff", str(EAGER), str(SESSION)], terminal=False)
    assert code == plain_code == 0
    assert stdout == plain_stdout and stdout.startswith("tftrace diff: EQUIVALENT")
    assert "Comparing" in stderr and "632/632 pairs" in stderr and "100%" in stderr
    assert plain_stderr == ""  # negative control: stderr is a pipe, nothing drawn


def test_quiet_and_a_long_delay_draw_nothing() -> None:
    _, stdout_quiet, quiet = run(["diff", "--quiet", str(EAGER), str(SESSION)], terminal=True)
    _, stdout_late, late = run(["diff", str(EAGER), str(SESSION)], terminal=True, delay="3600")
    assert "Comparing" not in quiet and "pairs" not in quiet
    assert "Comparing" not in late and "pairs" not in late
    assert stdout_quiet == stdout_late and "EQUIVALENT" in stdout_quiet


def test_diff_on_dask_shows_progress() -> None:
    pytest.importorskip("distributed", reason="diff --dask needs the dask extra")
    code, stdout, stderr = run(["diff", "--dask", "local:1", "--format", "json", str(EAGER),
                                str(SESSION)], terminal=True)
    _, local_stdout, _ = run(["diff", "--format", "json", str(EAGER), str(SESSION)], terminal=False)
    assert code == 0
    assert stdout == local_stdout
    assert "Comparing" in stderr and "632/632 pairs" in stderr


def test_pack_and_calibrate_show_progress(tmp_path: Path) -> None:
    code, stdout, stderr = run(["pack", str(EAGER), str(tmp_path / "copy.zarr.zip")],
                               terminal=True)
    assert code == 0 and stdout.strip() == str(tmp_path / "copy.zarr.zip")
    assert "Packing" in stderr and "1/1 files" in stderr  # a zip is copied whole: one file
    unpacked = tmp_path / "unpacked.zarr"
    import zipfile
    with zipfile.ZipFile(EAGER) as zf:
        zf.extractall(unpacked)
        files = len([n for n in zf.namelist() if not n.endswith("/")])
    code, _, stderr = run(["pack", str(unpacked), str(tmp_path / "repacked.zarr.zip")],
                          terminal=True)
    assert code == 0 and f"{files:,}/{files:,} files" in stderr
    code, stdout, stderr = run(["calibrate", str(EAGER), str(SESSION), "-o",
                                str(tmp_path / "tol.json")], terminal=True)
    assert code == 0 and "Calibrating" in stderr and "pairs" in stderr
    assert "Calibrating" not in stdout and (tmp_path / "tol.json").exists()
    _, _, piped = run(["pack", str(EAGER), str(tmp_path / "piped.zarr.zip")], terminal=False)
    assert piped == ""


SCRIPT = """
import tensorflow as tf
import tftrace
x = tf.random.normal([64, 64])
for step in range(3):
    x = tf.matmul(x, x) / 64.0
    tftrace.endpoint("x", x)
    tftrace.next_step()
print("script done", float(tf.reduce_sum(x)) != 0.0)
"""


def test_record_shows_events_written(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    code, stdout, stderr = run(["record", "-o", str(tmp_path / "run.zarr"), str(script)],
                               terminal=True, cwd=tmp_path)
    assert code == 0, stderr
    assert stdout == "script done True\n"
    assert "Recording" in stderr and "events" in stderr
    # the last draw counts every event the trace holds
    from tftrace import open as open_trace
    events = len(open_trace(tmp_path / "run.zarr").events)
    assert f"{events}/{events} events" in stderr
    code, stdout, stderr = run(["record", "--quiet", "-o", str(tmp_path / "quiet.zarr"),
                                str(script)], terminal=True, cwd=tmp_path)
    assert code == 0 and stdout == "script done True\n" and "Recording" not in stderr
