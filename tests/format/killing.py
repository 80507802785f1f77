"""Killing a writer subprocess once it has flushed enough (the crash tests of the trace store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def kill_after_flushes(script: str, *args: str, at_least: int = 200) -> int:
    """Run ``python -c script *args``, which prints ``flushed N`` after each flush; SIGKILL it
    once N reaches ``at_least`` (or its output ends) and return the last N it printed."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    flushed = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        flushed = int(line.split()[1])
        if flushed >= at_least:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the writer ended before it was killed"
    return flushed
