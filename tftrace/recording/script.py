"""Run a Python script inside a recording, as ``coverage run`` does (``tftrace record``)."""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import sys
import threading
import traceback
from typing import ContextManager, Iterator, Sequence

from tftrace.errors import ReplayError, TftraceError, UsageError
from tftrace.format.progress import ProgressCallback
from tftrace.recording.capture.sink import CaptureLevels
from tftrace.recording.recorder import Recorder, record
from tftrace.recording.recorder import replay as replay_run

#: How often ``tftrace record`` reports progress.
PROGRESS_SECONDS = 0.25


def run_script(script: str | os.PathLike[str], args: Sequence[str], *, output: str,
               seed: int = 42, seed_mode: str = "num_random_ops", capture: str = "full",
               overwrite: bool = False, replay: str | os.PathLike[str] | None = None,
               replay_random: bool = True, replay_variables: bool = True,
               rename: Sequence[str] = (), levels: CaptureLevels | None = None,
               progress: ProgressCallback | None = None) -> int:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]`` inside ``record()``
    (or ``replay()`` when ``replay`` names trace A).

    Returns the script's exit status: 0 when it ends normally, its ``sys.exit`` code,
    1 when it raises (the traceback is printed as Python would), 130 on Ctrl-C and
    143 on SIGTERM. The trace is closed in every case and says how the run ended
    (completed, raised, interrupted). A :class:`TftraceError` raised in the script (a
    replay mismatch, a seed reused) propagates, for the CLI's exit 2. ``progress`` is
    called every :data:`PROGRESS_SECONDS` from a thread of its own with the events
    written so far, and once more before the recording closes.
    """
    if replay is None:
        recording = record(output, seed=seed, seed_mode=seed_mode, capture=capture,
                           overwrite=overwrite, levels=levels)
    else:
        recording = replay_run(replay, record_to=output, random=replay_random,
                               variables=replay_variables, rename=rename, seed=seed,
                               seed_mode=seed_mode, capture=capture, overwrite=overwrite,
                               levels=levels)
    return run_script_in(script, args, recording, progress)[0]


def run_script_in(script: str | os.PathLike[str], args: Sequence[str],
                  recording: ContextManager[Recorder],
                  progress: ProgressCallback | None = None) -> tuple[int, Recorder | None]:
    """:func:`run_script` inside a recording already set up (not yet entered); returns the
    exit status and the recorder (None when the recording did not start)."""
    script = os.fspath(script)
    if not os.path.isfile(script):
        what = "a directory" if os.path.isdir(script) else "no such file"
        raise UsageError(f"expected a Python script to run, got {script!r} ({what})")
    saved_argv, saved_path0 = sys.argv, sys.path[0] if sys.path else None
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    status = 0
    recorder: Recorder | None = None
    try:
        with recording as recorder, _reporting(recorder, progress):
            try:
                runpy.run_path(script, run_name="__main__")
            except Exception as exc:
                # A replay error raised inside a tf.function reaches the script wrapped
                # in a TensorFlow error: report it as the replay error it is.
                if recorder.replay is not None and recorder.replay.error and \
                        not isinstance(exc, TftraceError):
                    raise ReplayError(recorder.replay.error) from exc
                raise
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except KeyboardInterrupt:  # Ctrl-C: the trace is closed as interrupted
        status = 128 + signal.SIGINT
    except TftraceError:
        raise
    except Exception:  # the user's script failed: report it as Python would, keep the trace
        traceback.print_exc()
        status = 1
    finally:
        sys.argv = saved_argv
        if sys.path and sys.path[0] != saved_path0:
            del sys.path[0]
    return status, recorder


@contextlib.contextmanager
def _reporting(recorder: Recorder, progress: ProgressCallback | None) -> Iterator[None]:
    """Poll the recorder's counts for ``progress`` while the script runs."""
    if progress is None:
        yield
        return
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(PROGRESS_SECONDS):
            written = recorder.written()
            if written is not None:
                progress(written)

    thread = threading.Thread(target=poll, name="tftrace-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        written = recorder.written()
        if written is not None:
            progress(written.ended())  # the last call: the display ends its line


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
    return 1
