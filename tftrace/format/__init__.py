"""The trace store: the event vocabulary, writer and reader; the only package that imports
zarr and msgpack. Its names load on first use (``import tftrace.format`` stays light)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tftrace.format.events import EventKind
    from tftrace.format.reader import Trace, open_trace
    from tftrace.format.schema import FORMAT_NAME, FORMAT_VERSION, Event, Stats
    from tftrace.format.writer import TraceWriter

_HOMES = {"Event": "schema", "EventKind": "events", "FORMAT_NAME": "schema", "FORMAT_VERSION": "schema",
          "Stats": "schema", "Trace": "reader", "TraceWriter": "writer", "open_trace": "reader"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"tftrace.format.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'tftrace.format' has no attribute {name!r}")
