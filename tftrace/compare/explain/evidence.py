"""What the detectors read from two traces, lazily and boundedly.

Values are read only for the few events a diagnosis looks at (the first divergence, the
series of its name, a handful of scalars), never more than ``MAX_ELEMENTS`` per array nor
``MAX_SERIES_STEPS`` steps per series; whatever could not be read is remembered (``unread``)
so the diagnosis says what it could not decide, instead of guessing.

Attributes of events (an op's ``epsilon`` or ``data_format``, a layer's ``training``) come
through an :class:`AttributeSource`: today the typed attrs and their ``extra`` keys; op and
layer capture add theirs by giving the same mapping, with no change to the detectors.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from tftrace.compare.result import DiffResult, PairResult
from tftrace.errors import TftraceError
from tftrace.format.reader import Trace
from tftrace.format.schema import Event

#: Largest array (elements) read for a relationship: 4 Mi float64 = 32 MB per side.
MAX_ELEMENTS = 1 << 22
#: Steps of one name's series read for lagged / stale.
MAX_SERIES_STEPS = 16
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


class AttributeSource(Protocol):
    """Where the detectors find an event's attributes (op or layer settings)."""

    def attributes(self, trace: Trace, event: Event) -> Mapping[str, Any]:
        """The event's attributes by name (``epsilon``, ``data_format``, ``training``...)."""
        ...


class EventAttributes:
    """The attributes stored with the event itself: its typed attrs and any ``extra``
    keys a newer recorder wrote (op capture's ``attributes`` map is read the same way)."""

    def attributes(self, trace: Trace, event: Event) -> Mapping[str, Any]:
        attrs = event.attrs
        out: dict[str, Any] = {}
        extra = getattr(attrs, "extra", None)
        if isinstance(extra, Mapping):
            out.update(extra)
        nested = out.pop("attributes", None)
        if isinstance(nested, Mapping):
            out.update(nested)
        for key in attrs:
            if key not in ("call_site", "extra"):
                out.setdefault(key, attrs[key])
        return out


class Evidence:
    """Both traces and the diff's pairs, with bounded value reads."""

    def __init__(self, a: Trace, b: Trace, result: DiffResult,
                 attributes: AttributeSource | None = None) -> None:
        self.traces = {"a": a, "b": b}
        self.result = result
        self.source = attributes or EventAttributes()
        self.unread: dict[str, str] = {}  # "a:name@step" -> why its values were not read
        self._by_seq: dict[str, dict[int, Event]] = {}

    # -- events -------------------------------------------------------------------------
    def event(self, side: str, seq: int | None) -> Event | None:
        if seq is None:
            return None
        trace = self.traces[side]
        events = trace.events
        if 0 <= seq < len(events) and events[seq].seq == seq:
            return events[seq]
        index = self._by_seq.get(side)
        if index is None:
            index = self._by_seq[side] = {ev.seq: ev for ev in events}
        return index.get(seq)

    def events(self, side: str) -> tuple[Event, ...]:
        return self.traces[side].events

    def environment(self, side: str) -> Mapping[str, Any]:
        return self.traces[side].environment

    def attributes(self, side: str, event: Event) -> Mapping[str, Any]:
        return self.source.attributes(self.traces[side], event)

    # -- values -------------------------------------------------------------------------
    def values(self, side: str, event: Event | None) -> np.ndarray | None:
        """The event's values as float64 (None: not a real float, not stored, too large)."""
        if event is None or event.dtype not in _FLOAT_DTYPES:
            return None
        where = f"{side}:{event.name}@{event.step}"
        if not event.stored:
            self.unread[where] = "values-not-stored"
            return None
        size = int(np.prod(event.shape or ())) if event.shape is not None else 0
        if size > MAX_ELEMENTS:
            self.unread[where] = "too-large"
            return None
        try:
            raw = self.traces[side].array(event)
        except TftraceError:
            self.unread[where] = "unreadable"
            return None
        return np.asarray(raw, dtype=np.float64)

    def pair_values(self, pair: PairResult) -> tuple[np.ndarray | None, np.ndarray | None]:
        return (self.values("a", self.event("a", pair.seq_a)),
                self.values("b", self.event("b", pair.seq_b)))

    def series(self, pair: PairResult) -> tuple[list[int], list[np.ndarray | None], list[np.ndarray | None]]:
        """The values of the pair's name over the steps both sides recorded (bounded)."""
        same = sorted((p for p in self.result.pairs
                       if p.kind == pair.kind and p.name == pair.name and p.occurrence == pair.occurrence
                       and p.seq_a is not None and p.seq_b is not None), key=lambda p: p.step)
        same = same[:MAX_SERIES_STEPS]
        steps, series_a, series_b = [], [], []
        for each in same:
            value_a, value_b = self.pair_values(each)
            steps.append(each.step)
            series_a.append(value_a)
            series_b.append(value_b)
        return steps, series_a, series_b

    def initial_value(self, name: str) -> np.ndarray | None:
        """A's initial value of the variable named like ``name`` (``:0`` ignored)."""
        want = name[:-2] if name.endswith(":0") else name
        for ev in self.events("a"):
            if ev.kind == "variable" and (ev.name[:-2] if ev.name.endswith(":0") else ev.name) == want:
                return self.values("a", ev)
        return None

    def shapes(self) -> list[tuple[int, ...]]:
        """Distinct shapes of A's and B's valued events, for naming a permutation."""
        seen: dict[tuple[int, ...], None] = {}
        for side in ("a", "b"):
            for ev in self.events(side):
                if ev.shape and len(ev.shape) >= 2:
                    seen.setdefault(tuple(ev.shape), None)
        return list(seen)

    def scalars(self, side: str, step: int, kind: str = "endpoint",
                limit: int = 64) -> Sequence[tuple[Event, float]]:
        """Up to ``limit`` scalar float values of one kind recorded at ``step``."""
        out = []
        for ev in self.events(side):
            if ev.kind == kind and ev.step == step and ev.shape == () and ev.dtype in _FLOAT_DTYPES:
                value = self.values(side, ev)
                if value is not None:
                    out.append((ev, float(value)))
                if len(out) >= limit:
                    break
        return out
