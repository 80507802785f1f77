"""Shared helpers of the recording tests: read traces back with the reader."""

from __future__ import annotations

from typing import Any

import numpy as np

from tftrace.format.reader import open_trace


def events(path: Any, kind: str) -> list[Any]:
    return [e for e in open_trace(path).events if e.kind == kind]


def arrays(path: Any, kind: str) -> list[np.ndarray]:
    trace = open_trace(path)
    return [trace.array(e) for e in trace.events if e.kind == kind]


def by_name(path: Any, kind: str, strip: str = "") -> dict[str, tuple[Any, np.ndarray | None]]:
    """{name without ':0' and prefix: (event, array)} for one kind."""
    trace = open_trace(path)
    out = {}
    for e in trace.events:
        if e.kind == kind:
            name = e.name[:-2] if e.name.endswith(":0") else e.name
            name = name[len(strip):] if strip and name.startswith(strip) else name
            out[name] = (e, trace.array(e) if e.stored else None)
    return out
