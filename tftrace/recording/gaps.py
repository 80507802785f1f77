"""The recorder's list of what it saw or was asked for but did not capture.

Entries are :class:`~tftrace.format.gaps.Gap`; one per (kind, name, reason, function),
counting repeats. The list goes into the environment record whenever a new entry
appears (a killed recording keeps what it had noted) and once more at the end, with
the final counts. Each write holds the whole list, so a check that leaves out many values
at once notes them inside :meth:`GapList.deferred`: one write for all of them (one per
entry made the log grow with the square of the entries: 1000 left-out op outputs wrote
about 100 MB).
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Iterator

from tftrace.format.gaps import MAX_GAPS, Gap

if TYPE_CHECKING:
    from tftrace.format.writer import TraceWriter


class GapList:
    """Collects :class:`Gap` entries and writes them to the trace."""

    def __init__(self, writer: TraceWriter | None) -> None:
        self._writer = writer
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str, str | None], Gap] = {}
        self._dropped = 0
        self._deferred = threading.local()  # per thread: depth, and whether an entry is new

    def note(self, kind: str, name: str, reason: str, detail: str = "", *,
             function: str | None = None, call_site: str | None = None, write: bool = True) -> None:
        key = (kind, name, reason, function)
        with self._lock:
            known = self._entries.get(key)
            if known is not None:
                self._entries[key] = Gap(kind, name, reason, known.detail, known.count + 1,
                                         function, known.call_site)
                return
            if len(self._entries) >= MAX_GAPS:
                self._dropped += 1
                return
            self._entries[key] = Gap(kind, name, reason, detail, 1, function, call_site)
        if not write:
            return
        if getattr(self._deferred, "depth", 0) > 0:
            self._deferred.new = True
        else:
            self.write()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Entries noted inside (in this thread) are written once, on leaving."""
        depth = getattr(self._deferred, "depth", 0)
        if depth == 0:
            self._deferred.new = False
        self._deferred.depth = depth + 1
        try:
            yield
        finally:
            self._deferred.depth = depth
            if depth == 0 and self._deferred.new:
                self.write()

    def entries(self) -> list[Gap]:
        with self._lock:
            entries = list(self._entries.values())
            if self._dropped:
                entries.append(Gap("other", "...", "other", f"{self._dropped} more entries not listed",
                                   self._dropped))
            return entries

    def to_list(self) -> list[dict[str, Any]]:
        return [gap.to_dict() for gap in self.entries()]

    def write(self) -> None:
        if self._writer is not None and not self._writer.closed:
            self._writer.update_environment(not_captured=self.to_list())


class CompiledFunctions:
    """XLA-compiled functions the recording saw, and what inside each was not observed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._functions: dict[str, dict[str, int]] = {}

    def note(self, name: str, kind: str | None = None) -> None:
        with self._lock:
            counts = self._functions.setdefault(name, {"endpoint": 0, "random_op": 0})
            if kind is not None:
                counts[kind] = counts.get(kind, 0) + 1

    def to_list(self) -> list[dict[str, Any]]:
        """The environment's ``compiled_functions``."""
        with self._lock:
            return [{"name": name, "endpoints_not_observed": counts["endpoint"],
                     "random_ops_not_observed": counts["random_op"]}
                    for name, counts in sorted(self._functions.items())]
