"""A progress bar on stderr for the long commands (diff, pack, calibrate, record).

The library reports :class:`~tftrace.format.progress.Work` to a callback; this module is
that callback for the command line. It draws click's own progress bar, only when stderr
is a terminal, only once the task has run for :func:`delay_seconds` (so quick commands
print nothing), never with ``--quiet``. The words come from report/progress.py.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Iterator, TextIO

import click

from tftrace.format.progress import Work
from tftrace.report.progress import progress_detail, progress_label

#: Seconds a task runs before its bar appears; ``TFTRACE_PROGRESS_DELAY`` overrides it.
DELAY_SECONDS = 2.0
DELAY_VARIABLE = "TFTRACE_PROGRESS_DELAY"
#: Seconds between two redraws of the bar (a diff of small arrays advances thousands of times a second).
REDRAW_SECONDS = 0.1


def delay_seconds() -> float:
    """The delay before a bar appears: ``$TFTRACE_PROGRESS_DELAY`` or 2 s."""
    text = os.environ.get(DELAY_VARIABLE)
    if text is None:
        return DELAY_SECONDS
    try:
        value = float(text)
    except ValueError:
        return DELAY_SECONDS
    return value if value >= 0 else DELAY_SECONDS


class TerminalProgress:
    """The progress callback of one command: ``TerminalProgress("diff", quiet=quiet)``.

    Use it as a context manager so the bar's line ends however the command ends.
    """

    def __init__(self, task: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.task = task
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and _is_terminal(self.stream)
        self.delay = delay_seconds()
        self._started = time.monotonic()
        self._bar: Any = None
        self._by_bytes = False
        self._position = 0
        self._drawn = 0.0
        self._closed = False
        self._lock = threading.Lock()  # a recording reports from a thread of its own

    def __call__(self, work: Work) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            if self._bar is None:
                if now - self._started < self.delay:
                    return
                self._open(work)
            elif now - self._drawn < REDRAW_SECONDS and not work.finished:
                return
            self._drawn = now
            length = work.bytes_total if self._by_bytes else work.total
            if length and self._bar.length and length != self._bar.length:
                self._bar.length = length  # the diffs of a worker set settle their totals late
            position = work.bytes_done if self._by_bytes else work.done
            step = max(0, position - self._position)
            self._bar.update(step, current_item=work)
            if step == 0:  # click redraws only on a step; the words changed
                self._bar.render_progress()
            self._position = max(self._position, position)
            if work.finished:
                self._close()

    def _open(self, work: Work) -> None:
        self._by_bytes = bool(work.bytes_total)
        length = work.bytes_total if self._by_bytes else work.total
        common: dict[str, Any] = {"label": progress_label(self.task), "file": self.stream,
                                  "item_show_func": self._detail, "width": 24}
        if length:
            self._bar = click.progressbar(length=length, show_eta=True, show_percent=True, **common)
        else:  # unknown length (a recording): a moving bar, no time left
            unknown: Iterator[Work] = (work for work in _NOTHING)  # no length hint, unlike iter(())
            self._bar = click.progressbar(unknown, **common)
        self._bar.__enter__()

    def _detail(self, work: Work | None) -> str | None:
        if work is None:
            return None
        return progress_detail(work, self.task, time.monotonic() - self._started)

    def _close(self) -> None:
        self._closed = True
        if self._bar is not None:
            self._bar.render_finish()  # ends the bar's line
            self._bar = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._close()


_NOTHING: tuple[Work, ...] = ()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False
