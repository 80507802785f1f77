"""How a recorded run ended: completed, raised, interrupted by a signal (or killed).

Ctrl-C reaches Python as ``KeyboardInterrupt``. SIGTERM would end the process on the
spot, leaving a trace that reads as killed; while recording, :class:`SigtermGuard`
turns it into ``SystemExit(128 + SIGTERM)`` instead (only when the program has not
installed a handler of its own), so the ``with`` block unwinds, the trace is closed as
``interrupted``, and the process still exits with the status a shell expects.
"""

from __future__ import annotations

import signal
import threading
import traceback
from types import FrameType
from typing import Any

from tftrace.format.status import RunStatus


class SigtermGuard:
    """Installs the SIGTERM handler while recording, in the main thread only."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
                return  # the program handles SIGTERM itself
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except (ValueError, OSError, AttributeError):  # no signals here (embedded, Windows)
            return
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            try:
                signal.signal(signal.SIGTERM, self._previous)
            except (ValueError, OSError):
                pass
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        raise SystemExit(128 + signum)


def run_status(error: BaseException | None, signal_received: str | None = None) -> RunStatus:
    """The status of a run whose ``with`` block ended with ``error`` (None: normally)."""
    if error is None:
        return RunStatus("completed")
    if isinstance(error, KeyboardInterrupt):
        return RunStatus("interrupted", signal="SIGINT")
    if isinstance(error, SystemExit):
        if signal_received is not None:
            return RunStatus("interrupted", signal=signal_received)
        if error.code in (None, 0):
            return RunStatus("completed")
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return RunStatus("raised", exception_type=type(error).__name__, message=str(error),
                     traceback=text)
