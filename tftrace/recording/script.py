"""Run a Python script inside a recording, as ``coverage run`` does (``tftrace record``)."""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from typing import Sequence

from tftrace.errors import UsageError
from tftrace.recording.recorder import record


def run_script(script: str | os.PathLike[str], args: Sequence[str], *, output: str,
               seed: int = 42, seed_mode: str = "num_random_ops", capture: str = "full",
               overwrite: bool = False) -> int:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]`` inside ``record()``.

    Returns the script's exit status: 0 when it ends normally, its ``sys.exit`` code,
    or 1 when it raises (the traceback is printed as Python would). The trace is
    closed and marked complete in every case.
    """
    script = os.fspath(script)
    if not os.path.isfile(script):
        raise UsageError(f"expected a Python script to run, got {script!r} (no such file)")
    saved_argv, saved_path0 = sys.argv, sys.path[0] if sys.path else None
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    status = 0
    try:
        with record(output, seed=seed, seed_mode=seed_mode, capture=capture,
                    overwrite=overwrite):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except Exception:  # the user's script failed: report it as Python would, keep the trace
        traceback.print_exc()
        status = 1
    finally:
        sys.argv = saved_argv
        if sys.path and sys.path[0] != saved_path0:
            del sys.path[0]
    return status


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
    return 1
