"""Read a trace: environment, event digests, and lazy access to each array.

A trace is untrusted input: records are streamed with msgpack size limits, never
unpickled, every field is type-checked, array keys are checked against the one
pattern the writer uses, and an array's metadata and chunk files are checked before
anything is allocated for it. Never imports TensorFlow (nor zarr-python).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tftrace.errors import (ArrayNotStoredError, EventNotFoundError, TraceFormatError,
                            TraceNotFoundError)
from tftrace.format import arrays, chunkio, limits, log, store, value_packs
from tftrace.format.array_meta import ArrayMeta, parse_array_meta
from tftrace.format.schema import Event, array_key_for, parse_format
from tftrace.format.status import RunStatus

#: A log segment larger than this is refused as corrupt (the writer makes ~kB segments).
MAX_SEGMENT_BYTES = limits.MAX_SEGMENT_BYTES
#: Metadata of one stored array larger than this is refused.
MAX_ARRAY_META_BYTES = limits.MAX_META_BYTES


class Trace:
    """An opened trace. Use :func:`open_trace` (``tftrace.open``).

    Attributes
    ----------
    path : pathlib.Path or str
        What was opened (for an unfinished ``.zarr.zip`` recording, its ``.partial`` directory);
        a URL string for a trace on object storage.
    environment : dict
        Versions, host, seeds, capture mode, start and end time, ...
    complete : bool
        False when the recording process died or the recorded run did not complete.
    status : RunStatus
        How the run ended: ``completed``, ``raised``, ``interrupted``, ``killed`` or
        ``stopped`` (at its first divergence, by ``--stop-at-first-divergence``).
    events : tuple of Event
        The ordered log, without array values.
    format_version : int
    """

    def __init__(self, path: Path | str, store_: store.ReadStore, format_version: int, environment: dict[str, Any],
                 events: tuple[Event, ...], complete: bool, status: RunStatus | None = None):
        self.path = path
        self._store = store_
        self.format_version = format_version
        self.environment = environment
        self.events = events
        self.complete = complete
        self.status = status or RunStatus("completed" if complete else "killed")
        self._index: dict[tuple[str, str, int, int], Event] | None = None  # built on first lookup
        self._packs = value_packs.PackedReader(store_)
        #: Events in the log (``len(events)``, or their count when opened without them).
        self.event_count = len(events)

    def __repr__(self) -> str:
        state = "complete" if self.complete else "incomplete"
        return f"<tftrace.Trace {str(self.path)!r}: {len(self.events)} events, {state}>"

    def __enter__(self) -> Trace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    def view(self, events: tuple[Event, ...]) -> Trace:
        """This trace seen with other events (some renamed or left out), reading the same
        store: the arrays of an event are found by its ``array_key`` as before. Close
        this trace, not the view."""
        return Trace(self.path, self._store, self.format_version, self.environment, events,
                     self.complete, self.status)

    def stream_events(self) -> Iterator[Event | log.LateValue]:
        """The log read again from the store, one record at a time, checked as on opening:
        each event in order, and each ``value`` record (format 4) where it comes, after its
        event. Memory: one record, whatever the length of the log."""
        for _, kind, item in log.log_items(self._store, self.path, self.format_version, {}):
            if kind in ("event", "value"):
                yield item

    def unclosed_packs(self) -> list[str]:
        """Packs of values a killed recording left open (no ``zarr.json``): no logged event
        refers to them, and reading ignores them (format 6)."""
        return value_packs.unclosed_packs(self._store) if self.format_version >= 6 else []

    def counts(self) -> dict[str, int]:
        """Number of events of each kind."""
        out: dict[str, int] = {}
        for ev in self.events:
            out[ev.kind] = out.get(ev.kind, 0) + 1
        return out

    def select(self, kind: str | None = None, name: str | None = None,
               step: int | None = None) -> list[Event]:
        """Events matching every given criterion, in recording order."""
        return [ev for ev in self.events
                if (kind is None or ev.kind == kind) and (name is None or ev.name == name)
                and (step is None or ev.step == step)]

    def event(self, name: str, step: int = 0, occurrence: int = 0, kind: str | None = None) -> Event:
        """The event with this name, step and occurrence (and kind, if given)."""
        if self._index is None:
            self._index = {}
            for each in self.events:
                self._index.setdefault((each.kind, each.name, each.step, each.occurrence), each)
        kinds = [kind] if kind else ["endpoint", "variable", "snapshot", "random_op"]
        for k in kinds:
            found = self._index.get((k, name, step, occurrence))
            if found is not None:
                return found
        steps = sorted({ev.step for ev in self.events if ev.name == name})
        hint = (f"; it was recorded at steps {steps[:20]}" if steps
                else "; see `tftrace show` for the names")
        raise EventNotFoundError(f"{self.path}: no event named {name!r} at step {step}"
                                 f" (occurrence {occurrence}){hint}")

    def events_named(self, name: str, step: int = 0, occurrence: int = 0,
                     kind: str | None = None) -> list[Event]:
        """Every event (of ``kind``, or of any kind) named ``name`` with or without the
        ``:0`` suffix, at this step and occurrence, in kind order (endpoint, variable,
        snapshot, random op): several when kinds share the name."""
        names = {name, name[:-2] if name.endswith(":0") else name + ":0"}
        order = ["endpoint", "variable", "snapshot", "random_op"]
        found = [ev for ev in self.events if ev.name in names and ev.step == step
                 and ev.occurrence == occurrence and (kind is None or ev.kind == kind)]
        return sorted(found, key=lambda ev: (order.index(ev.kind) if ev.kind in order
                                             else len(order), ev.seq))

    def array(self, name_or_event: str | Event, step: int = 0, occurrence: int = 0,
              kind: str | None = None) -> np.ndarray:
        """The values of one event, as numpy (bfloat16 via ml_dtypes, strings as bytes objects)."""
        ev = name_or_event if isinstance(name_or_event, Event) else self.event(
            name_or_event, step, occurrence, kind)
        if ev.packed is not None:
            return self._decode(ev, self._packed_read(ev, self._packs.stored_values).reshape(ev.shape or ()))
        meta = self._array_meta(ev)
        stored = np.empty(math.prod(meta.shape), dtype=meta.dtype)
        if meta.contiguous is not None:
            self._read(ev, chunkio.read_range, meta, 0, stored)
        else:
            region = tuple(slice(None) for _ in meta.shape)
            self._read(ev, chunkio.read_region, meta, region, stored.reshape(meta.shape))
        return self._decode(ev, stored.reshape(meta.shape))

    def iter_blocks(self, event: Event, max_bytes: int = 8 << 20) -> Iterator[tuple[int, np.ndarray]]:
        """Walk one event's values as flat C-order blocks: ``(flat_start, 1-D block)``.

        Memory stays bounded by ``max_bytes`` per block (plus one chunk for layouts
        tftrace did not write). Strings come as one block. The blocks depend only on
        the shape, dtype and ``max_bytes``, so two traces' arrays of one shape are
        walked in step.
        """
        if event.packed is not None and event.dtype != "string":
            yield from self._packed_blocks(event, max_bytes)
            return
        meta = self._array_meta(event)
        assert event.shape is not None and event.dtype is not None
        if event.dtype == "string":
            yield 0, self.array(event).reshape(-1)
            return
        itemsize = arrays.numpy_dtype(event.dtype).itemsize
        contiguous = meta.contiguous is not None
        for start, index in arrays.iter_block_slices(event.shape, itemsize, max_bytes):
            size = math.prod(_region_shape(event.shape, index))
            flat = np.empty(size, dtype=meta.dtype)
            if contiguous:
                self._read(event, chunkio.read_range, meta, start, flat)
            else:
                region = tuple(ix if isinstance(ix, slice) else slice(ix, ix + 1) for ix in index)
                self._read(event, chunkio.read_region, meta, region,
                           flat.reshape([s.indices(n)[1] - s.indices(n)[0] for s, n in zip(region, meta.shape)]))
            yield start, self._decode(event, flat, flat.shape)

    # -- internals --------------------------------------------------------------

    def _packed_blocks(self, event: Event, max_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
        """``iter_blocks`` of a packed value: the same blocks, read from its pack."""
        assert event.shape is not None and event.dtype is not None
        itemsize = arrays.numpy_dtype(event.dtype).itemsize
        starts = [(start, math.prod(_region_shape(event.shape, index)))
                  for start, index in arrays.iter_block_slices(event.shape, itemsize, max_bytes)]
        blocks = self._packed_read(event, lambda ev: list(self._packs.blocks(ev, iter(starts))))
        for (start, _), flat in zip(starts, blocks):
            yield start, self._decode(event, flat, flat.shape)

    def _packed_read(self, ev: Event, read: Any) -> Any:
        """``read(ev)`` of a packed event, its errors naming the trace, event and pack."""
        self._check_stored(ev)
        try:
            return read(ev)
        except TraceFormatError as exc:
            message = str(exc).removeprefix(f"{self.path}: ")
            raise TraceFormatError(f"{self.path}: the value of event #{ev.seq} {ev.name!r} is "
                                   f"unreadable: {message}") from None

    def _check_stored(self, ev: Event) -> None:
        """:class:`ArrayNotStoredError` unless the event's value is in the trace."""
        if ev.dtype is None:
            raise ArrayNotStoredError(f"{self.path}: event #{ev.seq} {ev.name!r} carries no value")
        if ev.array_key is None:
            raise ArrayNotStoredError(
                f"{self.path}: the values of {ev.name!r} were not stored (recorded with "
                f"--capture stats); only statistics and the digest are available")

    def _array_meta(self, ev: Event) -> ArrayMeta:
        """Validate an event's array metadata (its zarr.json, read once) and check that
        its chunk files are there, before anything is allocated for it."""
        self._check_stored(ev)
        assert ev.dtype is not None
        where = f"{self.path}: array {ev.array_key} of event #{ev.seq} {ev.name!r}"
        raw = self._store.get(f"{ev.array_key}/zarr.json", MAX_ARRAY_META_BYTES)
        if raw is None:
            raise TraceFormatError(f"{where} is missing (no {ev.array_key}/zarr.json)")
        try:
            meta = parse_array_meta(raw, ev.dtype, ev.shape)
        except TraceFormatError as exc:
            raise TraceFormatError(f"{where} is unreadable: {exc}") from None
        needed = meta.chunk_count if math.prod(meta.shape) else 0
        found = self._store.count_files(str(ev.array_key), needed + 1) - 1  # less its zarr.json
        if found < needed:
            raise TraceFormatError(
                f"{where} is corrupted: its shape {list(meta.shape)} needs {needed} chunk files, "
                f"the trace holds {max(found, 0)} (tftrace writes every chunk)")
        return meta

    def _read(self, ev: Event, read: Any, meta: ArrayMeta, where: Any, out: np.ndarray) -> None:
        try:
            read(self._store, str(ev.array_key), meta, where, out)
        except TraceFormatError as exc:
            message = str(exc)
            prefix = f"{self.path}: "
            if message.startswith(prefix):
                message = message[len(prefix):]
            raise TraceFormatError(f"{self.path}: array {ev.array_key} of {ev.name!r} is corrupted: "
                                   f"{message}") from None

    def _decode(self, ev: Event, stored: np.ndarray, shape: Any = None) -> np.ndarray:
        encoding = node_encoding(ev)
        target = ev.shape if shape is None else tuple(shape)
        try:
            return arrays.decode(stored, ev.dtype or "", target or (), encoding)
        except TraceFormatError as exc:
            raise TraceFormatError(f"{self.path}: array {ev.array_key} of {ev.name!r} is corrupted: "
                                   f"{exc}") from None


def _region_shape(shape: tuple[int, ...], index: tuple[Any, ...]) -> tuple[int, ...]:
    out = []
    for n, ix in zip(shape, index):
        if isinstance(ix, slice):
            start, stop, _ = ix.indices(n)
            out.append(stop - start)
    return tuple(out)


def node_encoding(ev: Event) -> str:
    if ev.dtype == "string":
        return arrays.ENCODING_MSGPACK
    if ev.dtype == "bfloat16":
        return arrays.ENCODING_BITS
    return arrays.ENCODING_NATIVE


def open_trace(path: str | os.PathLike[str], load_events: bool = True) -> Trace:
    """Open a trace for reading (``tftrace.open``).

    Parameters
    ----------
    path : path-like or str
        A ``X.zarr`` directory or ``X.zarr.zip`` file, or the URL of one on object
        storage (``s3://bucket/run.zarr``: any fsspec URL, with ``tftrace[s3]`` or the
        filesystem's package installed). For a ``.zarr.zip`` whose recording was
        killed, the ``X.zarr.zip.partial`` directory is opened.
    load_events : bool
        False: every record is read and checked, but ``events`` stays empty (memory does
        not grow with the log); walk them with :meth:`Trace.stream_events`.

    Raises
    ------
    TraceNotFoundError
        Nothing is there, or it is not a trace.
    TraceFormatError
        A foreign, newer, truncated or corrupted store.
    """
    resolved = store.resolve_for_reading(path)
    read_store = store.open_read_store(resolved)
    try:
        root = read_store.get("zarr.json", MAX_ARRAY_META_BYTES)
        if root is None:
            raise TraceNotFoundError(f"{resolved}: not a trace (no zarr.json)")
        try:
            root_meta = json.loads(root)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise TraceFormatError(f"{resolved}: zarr.json is not valid JSON") from None
        if not isinstance(root_meta, dict) or root_meta.get("zarr_format") != 3:
            got = root_meta.get("zarr_format") if isinstance(root_meta, dict) else None
            raise TraceFormatError(f"{resolved}: expected a zarr v3 group, got zarr_format={got!r:.40}")
        zarr_attributes = root_meta.get("attributes", {})
        meta = zarr_attributes.get("tftrace") if isinstance(zarr_attributes, dict) else None
        if not isinstance(meta, dict):
            raise TraceFormatError(f"{resolved}: a zarr store but not a tftrace trace "
                                   "(no 'tftrace' attributes in zarr.json)")
        version = parse_format(meta, str(resolved))
        environment, events, count, end = _read_log(read_store, resolved, version, load_events)
    except BaseException:
        read_store.close()
        raise
    status = RunStatus.from_end_record(end)
    environment["status"] = status.status
    trace = Trace(resolved, read_store, version, environment, events, environment["complete"], status)
    trace.event_count = count
    return trace


def _read_log(read_store: store.ReadStore, path: Path | str, version: int = 4, keep: bool = True
              ) -> tuple[dict[str, Any], tuple[Event, ...], int, dict[str, Any] | None]:
    """The environment, the events (none unless ``keep``: only checked and counted), their
    count and the end record."""
    environment: dict[str, Any] = {}
    events: list[Event] = []
    count = 0
    segment = 0
    complete = False
    end_record: dict[str, Any] | None = None
    for segment, kind, item in log.log_items(read_store, path, version, environment):
        if kind == "event":
            count += 1
            if keep:
                events.append(item)
        elif kind == "value" and keep:
            _attach_value(events, item, f"{path}: log segment {segment}")
        elif kind == "end":
            end_record = item
            complete = item.get("complete") is True
    if segment < 0 or not environment and not count:
        raise TraceFormatError(f"{path}: the trace has no event log (log/0 is missing): "
                               "it was never written or is truncated")
    environment["complete"] = complete
    return environment, tuple(events), count, end_record


def _attach_value(events: list[Event], value: log.LateValue, where: str) -> None:
    """A ``value`` record (format 4): the array of an earlier event stored after it; its key
    is the one the event's seq gives (checked by ``_late_value``), and the event had none."""
    event = events[value.seq]
    if event.array_key is not None or event.dtype is None:
        raise TraceFormatError(f"{where}: bad value record for event #{value.seq}: expected "
                               f"array_key {array_key_for(value.seq)!r} for an event holding statistics "
                               f"without a value, got {value.array_key!r}")
    events[value.seq] = dataclasses.replace(event, array_key=value.array_key)
