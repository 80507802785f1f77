"""How a recorded run ended: the ``status`` keys of the ``end`` record.

A trace written before these keys existed reads as ``completed`` when its end record
says ``complete: true``, ``raised`` when it says ``complete: false`` (the writer was
closed as failed) and ``killed`` when it has no end record at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

#: Every status a trace can report, in the words of docs/format.md.
RUN_STATUSES = ("completed", "raised", "interrupted", "killed", "stopped")
#: Longest traceback text kept in the end record (the rest is cut, with a marker).
MAX_TRACEBACK_CHARS = 32 << 10


@dataclass(frozen=True)
class RunStatus:
    """How the recorded run ended.

    Attributes
    ----------
    status : str
        ``completed``, ``raised`` (the program raised: ``exception_type``, ``message``,
        ``traceback``), ``interrupted`` (a signal: ``signal``, e.g. ``"SIGINT"``),
        ``killed`` (the process died before writing the end record) or ``stopped``
        (tftrace ended the run at its first divergence from the trace it was recorded
        against: ``--stop-at-first-divergence``; format version 4).
    """

    status: str
    exception_type: str | None = None
    message: str | None = None
    traceback: str | None = None
    signal: str | None = None

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def to_end_record(self) -> dict[str, Any]:
        """The keys this status adds to the ``end`` record."""
        record: dict[str, Any] = {"status": self.status}
        if self.exception_type is not None:
            record["exception"] = {"type": self.exception_type, "message": self.message or "",
                                   "traceback": _cut(self.traceback or "")}
        if self.signal is not None:
            record["signal"] = self.signal
        return record

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "exception_type": self.exception_type,
                "message": self.message, "traceback": self.traceback, "signal": self.signal}

    @classmethod
    def from_end_record(cls, record: Mapping[str, Any] | None) -> RunStatus:
        """Read the status of a trace from its end record (None: there is none)."""
        if record is None:
            return cls("killed")
        status = record.get("status")
        if not isinstance(status, str):  # written before the status keys existed
            return cls("completed" if record.get("complete") is True else "raised")
        if record.get("complete") is not True and status == "completed":
            status = "raised"  # never claim more than the complete flag
        exception = record.get("exception")
        exception = exception if isinstance(exception, Mapping) else {}
        signal = record.get("signal")
        return cls(status, exception_type=_text(exception.get("type")),
                   message=_text(exception.get("message")),
                   traceback=_text(exception.get("traceback")),
                   signal=signal if isinstance(signal, str) else None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _cut(text: str) -> str:
    if len(text) <= MAX_TRACEBACK_CHARS:
        return text
    return "...(cut)...\n" + text[-MAX_TRACEBACK_CHARS:]
