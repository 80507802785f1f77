"""What a recording saw or was asked for but did not capture: the ``not_captured`` list.

The recorder keeps the list in the environment record (key ``not_captured``, rewritten
whole as it grows, so a killed recording keeps what it had noted), and XLA-compiled
functions under ``compiled_functions``. Both keys are optional: traces written before
them read as having captured everything they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from tftrace.errors import TraceFormatError

if TYPE_CHECKING:
    from tftrace.format.reader import Trace

#: Why something was not captured (docs/format.md lists them with their meaning).
REASONS = ("never-computed", "not-fetchable", "xla", "no-initial-value",
           "initial-value-after-update", "observer-effect", "other")
#: At most this many entries are kept; ``count`` of the last one says how many more.
MAX_GAPS = 1000


@dataclass(frozen=True)
class Gap:
    """One thing not captured: an event ``kind`` and ``name``, the ``reason`` code, a
    ``detail`` for people, how many times it happened, and where."""

    kind: str
    name: str
    reason: str
    detail: str = ""
    count: int = 1
    function: str | None = None
    call_site: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "reason": self.reason,
                "detail": self.detail, "count": self.count, "function": self.function,
                "call_site": self.call_site}

    @classmethod
    def from_dict(cls, d: Any) -> Gap:
        if not isinstance(d, Mapping):
            raise TraceFormatError(f"expected a not_captured entry mapping, got {type(d).__name__}")
        kind, name, reason = d.get("kind"), d.get("name"), d.get("reason")
        count = d.get("count", 1)
        if not (isinstance(kind, str) and isinstance(name, str) and isinstance(reason, str)):
            raise TraceFormatError(f"expected kind, name and reason strings in a not_captured "
                                   f"entry, got {dict(d)!r:.200}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise TraceFormatError(f"expected a non-negative integer count in a not_captured "
                                   f"entry, got {count!r}")
        return cls(kind, name, reason, _text(d.get("detail")) or "", count,
                   _text(d.get("function")), _text(d.get("call_site")))


def read_gaps(environment: Mapping[str, Any], path: str = "") -> tuple[Gap, ...]:
    """The ``not_captured`` entries of an environment record (none in older traces)."""
    raw = environment.get("not_captured")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TraceFormatError(f"{path}: expected not_captured to be a list, got {type(raw).__name__}")
    try:
        return tuple(Gap.from_dict(entry) for entry in raw)
    except TraceFormatError as exc:
        raise TraceFormatError(f"{path}: {exc}") from None


def not_captured(trace: Trace) -> tuple[dict[str, Any], ...]:
    """A trace's gaps as plain mappings (for result objects and reports)."""
    return tuple(gap.to_dict() for gap in read_gaps(trace.environment, str(trace.path)))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
