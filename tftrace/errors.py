"""One exception hierarchy for tftrace.

Every error a user can cause derives from :class:`TftraceError`; the command line
turns these into a one-line message and exit code 2. Where a builtin exception
fits, the error inherits it too (as zarr does), so ``except FileNotFoundError``
keeps working for callers who do not know tftrace.
"""

from __future__ import annotations


class TftraceError(Exception):
    """Base class of every error tftrace raises on purpose.

    ``option`` names the keyword argument that would fix the error (``overwrite``):
    the message then ends with ``pass overwrite=True``, and the command line says
    ``--overwrite`` instead (``report.errors.error_line``).
    """

    def __init__(self, message: str = "", *, option: str | None = None):
        super().__init__(message)
        self.option = option

    @property
    def message(self) -> str:
        """The message without the fix (as both the API and the CLI begin it)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.message} (pass {self.option}=True)" if self.option else self.message


class TraceNotFoundError(TftraceError, FileNotFoundError):
    """The path does not exist, or holds no trace."""


class TraceFormatError(TftraceError, ValueError):
    """The store exists but is not a readable tftrace trace (foreign, newer, corrupted)."""


class TraceExistsError(TftraceError, FileExistsError):
    """Recording would overwrite an existing trace."""


class TraceLockedError(TftraceError, BlockingIOError):
    """Another process is recording to the same path."""


class TraceWriteError(TftraceError, OSError):
    """Writing the trace (or a packed copy) failed: disk full, permission denied, ...

    Not the program's fault; ``errno`` is the OS error's number when there was one.
    """

    def __init__(self, message: str = "", *, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class TraceClosedError(TftraceError, RuntimeError):
    """The trace writer was used after it was closed."""


class EventNotFoundError(TftraceError, KeyError):
    """No event with the requested name / step / occurrence."""

    def __str__(self) -> str:  # KeyError would quote the message
        return TftraceError.__str__(self)


class ArrayNotStoredError(TftraceError, LookupError):
    """The event exists but its values were not stored (``--capture stats``)."""


class SeedReuseError(TftraceError, ValueError):
    """In ``num_random_ops`` mode an operation seed would be used twice."""


class ReplayError(TftraceError, RuntimeError):
    """Replay could not give run B the value run A recorded."""


class UsageError(TftraceError, ValueError):
    """An argument or option has an invalid value."""


class StoppedAtFirstDivergence(Exception):
    """Not an error: a recording against a trace (``record(..., against=A,
    stop_at_first_divergence=True)``) ends the run at its first divergence.

    Raised from the point where the diverging event is recorded, so that the program
    stops there; the ``record()`` block catches it (also when TensorFlow wrapped it in
    its own error on the way), closes the trace as ``stopped`` and lets the program go on
    after the ``with`` block. ``seq`` is the diverging event's sequence number in B.
    """

    def __init__(self, seq: int, name: str, step: int) -> None:
        super().__init__(f"stopped at the first divergence: event #{seq} {name!r} at step {step}")
        self.seq, self.name, self.step = seq, name, step
