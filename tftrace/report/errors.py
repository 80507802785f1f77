"""The one line the command line prints for an error (``Error: ...`` on stderr, exit 2)."""

from __future__ import annotations

from tftrace.errors import TftraceError
from tftrace.report.escape import safe_text


def error_line(exc: BaseException) -> str:
    """``exc`` as the command line says it: escaped, in the command line's words.

    An error that a keyword argument would fix (``overwrite=True``) names the option
    instead (``--overwrite``). Control characters are escaped; the newlines of the few
    messages written on several lines (a replay mismatch) are kept.
    """
    if isinstance(exc, TftraceError):
        text = exc.message
        if exc.option:
            text += f" (use --{exc.option.replace('_', '-')})"
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        text = f"{where}{exc.strerror or exc}"
    else:
        text = str(exc)
    return "Error: " + safe_text(text)
