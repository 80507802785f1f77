"""The trace store: the only package that imports zarr and msgpack."""

from __future__ import annotations

from tftrace.format.reader import Trace, open_trace
from tftrace.format.schema import FORMAT_NAME, FORMAT_VERSION, Event, Stats
from tftrace.format.writer import TraceWriter

__all__ = ["Event", "FORMAT_NAME", "FORMAT_VERSION", "Stats", "Trace", "TraceWriter", "open_trace"]
