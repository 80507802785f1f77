"""OS errors while writing a trace, as the one :class:`TraceWriteError` users see."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from tftrace.errors import TftraceError, TraceWriteError


@contextlib.contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn an OS error while writing the trace at ``path`` into :class:`TraceWriteError`."""
    try:
        yield
    except TftraceError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from exc


def write_error(path: Path | str, exc: OSError) -> TraceWriteError:
    """The :class:`TraceWriteError` of an OS error while writing the trace at ``path``."""
    where = f" ({exc.filename})" if exc.filename else ""
    return TraceWriteError(f"{path}: cannot write the trace: {exc.strerror or exc}{where}; free some "
                           f"space, fix the permissions or record to another path", errno=exc.errno)
