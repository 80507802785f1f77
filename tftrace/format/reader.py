"""Read a trace: environment, event digests, and lazy access to each array.

A trace is untrusted input: records are decoded with msgpack size limits, never
unpickled, and array keys are checked against the one pattern the writer uses.
Never imports TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import msgpack
import numpy as np
import zarr

from tftrace.errors import (ArrayNotStoredError, EventNotFoundError, TraceFormatError,
                            TraceNotFoundError)
from tftrace.format import arrays, chunkio, store
from tftrace.format.schema import Event, parse_format
from tftrace.format.status import RunStatus
from tftrace.format.writer import log_key

#: A log segment larger than this is refused as corrupt (the writer makes ~kB segments).
MAX_SEGMENT_BYTES = 256 << 20
#: Metadata of one stored array larger than this is refused.
MAX_ARRAY_META_BYTES = 1 << 20


class Trace:
    """An opened trace. Use :func:`open_trace` (``tftrace.open``).

    Attributes
    ----------
    path : pathlib.Path
        What was opened (for an unfinished ``.zarr.zip`` recording, its ``.partial`` directory).
    environment : dict
        Versions, host, seeds, capture mode, start and end time, ...
    complete : bool
        False when the recording process died or the recorded run did not complete.
    status : RunStatus
        How the run ended: ``completed``, ``raised``, ``interrupted`` or ``killed``.
    events : tuple of Event
        The ordered log, without array values.
    format_version : int
    """

    def __init__(self, path: Path, store_: store.ReadStore, format_version: int, environment: dict[str, Any],
                 events: tuple[Event, ...], complete: bool, status: RunStatus | None = None):
        self.path = path
        self._store = store_
        self.format_version = format_version
        self.environment = environment
        self.events = events
        self.complete = complete
        self.status = status or RunStatus("completed" if complete else "killed")
        self._group: zarr.Group | None = None
        self._index: dict[tuple[str, str, int, int], Event] = {}
        for ev in events:
            self._index.setdefault((ev.kind, ev.name, ev.step, ev.occurrence), ev)

    def __repr__(self) -> str:
        state = "complete" if self.complete else "incomplete"
        return f"<tftrace.Trace {str(self.path)!r}: {len(self.events)} events, {state}>"

    def __enter__(self) -> Trace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

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
        kinds = [kind] if kind else ["endpoint", "variable", "snapshot", "random_op"]
        for k in kinds:
            ev = self._index.get((k, name, step, occurrence))
            if ev is not None:
                return ev
        steps = sorted({ev.step for ev in self.events if ev.name == name})
        hint = (f"; it was recorded at steps {steps[:20]}" if steps
                else "; see `tftrace show` for the names")
        raise EventNotFoundError(f"{self.path}: no event named {name!r} at step {step}"
                                 f" (occurrence {occurrence}){hint}")

    def array(self, name_or_event: str | Event, step: int = 0, occurrence: int = 0,
              kind: str | None = None) -> np.ndarray:
        """The values of one event, as numpy (bfloat16 via ml_dtypes, strings as bytes objects)."""
        ev = name_or_event if isinstance(name_or_event, Event) else self.event(
            name_or_event, step, occurrence, kind)
        shape, fast = self._stored_array(ev)
        if fast is None:
            stored = self._read(ev, self._zarr_array(ev), ...)
        else:
            stored = np.empty(math.prod(shape), dtype=fast[1])
            self._read_range(ev, fast, 0, stored)
            stored = stored.reshape(shape)
        return self._decode(ev, stored)

    def iter_blocks(self, event: Event, max_bytes: int = 8 << 20) -> Iterator[tuple[int, np.ndarray]]:
        """Walk one event's values as flat C-order blocks: ``(flat_start, 1-D block)``.

        Memory stays bounded by ``max_bytes`` per block. Strings come as one block.
        The blocks depend only on the shape, dtype and ``max_bytes``, so two traces'
        arrays of one shape are walked in step.
        """
        _, fast = self._stored_array(event)
        assert event.shape is not None and event.dtype is not None
        if event.dtype == "string":
            yield 0, self.array(event).reshape(-1)
            return
        itemsize = arrays.numpy_dtype(event.dtype).itemsize
        node = self._zarr_array(event) if fast is None else None
        for start, index in arrays.iter_block_slices(event.shape, itemsize, max_bytes):
            if fast is None:
                assert node is not None
                block = self._read(event, node, index)
                flat = np.asarray(block).reshape(-1)
            else:
                size = math.prod(_region_shape(event.shape, index))
                flat = np.empty(size, dtype=fast[1])
                self._read_range(event, fast, start, flat)
            yield start, self._decode(event, flat, flat.shape)

    # -- internals --------------------------------------------------------------

    def _stored_array(self, ev: Event) -> tuple[tuple[int, ...], tuple[chunkio.Layout, np.dtype, bool] | None]:
        """Validate an event's array metadata (its zarr.json, read once).

        Returns the stored shape and the chunk layout for direct reads, or None for
        a layout that only zarr-python reads.
        """
        if ev.dtype is None:
            raise ArrayNotStoredError(f"{self.path}: event #{ev.seq} {ev.name!r} carries no value")
        if ev.array_key is None:
            raise ArrayNotStoredError(
                f"{self.path}: the values of {ev.name!r} were not stored (recorded with "
                f"--capture stats); only statistics and the digest are available")
        where = f"{self.path}: array {ev.array_key} of event #{ev.seq} {ev.name!r}"
        try:
            raw = self._store.get(f"{ev.array_key}/zarr.json", MAX_ARRAY_META_BYTES)
            meta = json.loads(raw) if raw is not None else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise TraceFormatError(f"{where} is unreadable: zarr.json is not valid JSON ({exc})") from None
        if meta is None:
            raise TraceFormatError(f"{where} is missing (no {ev.array_key}/zarr.json)")
        if not isinstance(meta, dict) or meta.get("node_type") != "array" or meta.get("zarr_format") != 3:
            raise TraceFormatError(f"{self.path}: {ev.array_key} is not a zarr v3 array")
        attrs = meta.get("attributes")
        info = attrs.get("tftrace") if isinstance(attrs, dict) else None
        if not isinstance(info, Mapping) or info.get("dtype") != ev.dtype:
            raise TraceFormatError(f"{self.path}: array {ev.array_key} does not match event #{ev.seq}"
                                   f" (expected dtype {ev.dtype}, got {info!r})")
        shape = meta.get("shape")
        if ev.dtype == "string":  # one msgpack string of any length
            ok = (isinstance(shape, list) and len(shape) == 1 and isinstance(shape[0], int)
                  and not isinstance(shape[0], bool) and shape[0] >= 0)
            expected = "[<bytes>]"
        else:
            ok = isinstance(shape, list) and tuple(shape) == ev.shape
            expected = str(list(ev.shape or ()))
        if not ok or not isinstance(shape, list):
            raise TraceFormatError(f"{self.path}: array {ev.array_key} has shape {shape!r}, "
                                   f"expected {expected}")
        stored = tuple(int(n) for n in shape)
        return stored, _fast_layout(meta, stored, ev.dtype)

    def _zarr_array(self, ev: Event) -> zarr.Array:
        try:
            if self._group is None:
                self._group = zarr.open_group(self._store.zarr_store(), mode="r")
            node = self._group[str(ev.array_key)]
        except Exception as exc:
            raise TraceFormatError(f"{self.path}: array {ev.array_key} of event #{ev.seq} "
                                   f"{ev.name!r} is missing or unreadable: {exc}") from None
        if not isinstance(node, zarr.Array):
            raise TraceFormatError(f"{self.path}: {ev.array_key} is not an array")
        return node

    def _read(self, ev: Event, node: zarr.Array, index: Any) -> np.ndarray:
        try:
            return np.asarray(node[index])
        except Exception as exc:
            raise TraceFormatError(f"{self.path}: array {ev.array_key} of {ev.name!r} is corrupted: "
                                   f"{type(exc).__name__}: {exc}") from None

    def _read_range(self, ev: Event, fast: tuple[chunkio.Layout, np.dtype, bool], start: int,
                    out: np.ndarray) -> None:
        layout, dtype, compressed = fast
        try:
            chunkio.read_range(self._store, str(ev.array_key), layout, dtype, compressed, start, out)
        except TraceFormatError as exc:
            raise TraceFormatError(f"{self.path}: array {ev.array_key} of {ev.name!r} is corrupted: "
                                   f"{exc}") from None

    def _decode(self, ev: Event, stored: np.ndarray, shape: Any = None) -> np.ndarray:
        encoding = node_encoding(ev)
        target = ev.shape if shape is None else tuple(shape)
        try:
            return arrays.decode(stored, ev.dtype or "", target or (), encoding)
        except TraceFormatError as exc:
            raise TraceFormatError(f"{self.path}: array {ev.array_key} of {ev.name!r} is corrupted: "
                                   f"{exc}") from None


def _fast_layout(meta: dict[str, Any], shape: tuple[int, ...],
                 dtype: str) -> tuple[chunkio.Layout, np.dtype, bool] | None:
    """The chunk layout for direct reads, or None to read through zarr-python."""
    stored = arrays.stored_dtype(dtype)
    try:
        compressed = chunkio.codecs_supported(meta.get("codecs"))
        chunks = tuple(int(n) for n in meta["chunk_grid"]["configuration"]["chunk_shape"])
        encoding = meta.get("chunk_key_encoding", {})
        separator = encoding.get("configuration", {}).get("separator", "/")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if len(chunks) != len(shape) or any(n < 1 for n in chunks):
        return None  # zarr-python says what is wrong with it
    if (compressed is None or meta.get("data_type") != stored.name or meta.get("storage_transformers")
            or encoding.get("name") != "default" or not isinstance(separator, str)):
        return None
    layout = chunkio.layout_of(shape, chunks, separator)
    return None if layout is None else (layout, stored, compressed)


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


def open_trace(path: str | os.PathLike[str]) -> Trace:
    """Open a trace for reading (``tftrace.open``).

    Parameters
    ----------
    path : path-like
        A ``X.zarr`` directory or ``X.zarr.zip`` file. For a ``.zarr.zip`` whose
        recording was killed, the ``X.zarr.zip.partial`` directory is opened.

    Raises
    ------
    TraceNotFoundError
        Nothing is there, or it is not a trace.
    TraceFormatError
        A foreign, newer, truncated or corrupted store.
    """
    resolved = store.resolve_for_reading(path)
    read_store = store.ReadStore(resolved)
    try:
        root = read_store.get("zarr.json", MAX_ARRAY_META_BYTES)
        if root is None:
            raise TraceNotFoundError(f"{resolved}: not a trace (no zarr.json)")
        try:
            root_meta = json.loads(root)
        except (ValueError, UnicodeDecodeError):
            raise TraceFormatError(f"{resolved}: zarr.json is not valid JSON") from None
        if not isinstance(root_meta, dict) or root_meta.get("zarr_format") != 3:
            raise TraceFormatError(f"{resolved}: expected a zarr v3 group, got "
                                   f"zarr_format={root_meta.get('zarr_format') if isinstance(root_meta, dict) else None!r}")
        attrs = root_meta.get("attributes", {})
        meta = attrs.get("tftrace") if isinstance(attrs, dict) else None
        if not isinstance(meta, dict):
            raise TraceFormatError(f"{resolved}: a zarr store but not a tftrace trace "
                                   "(no 'tftrace' attributes in zarr.json)")
        version = parse_format(meta, str(resolved))
        environment, events, end = _read_log(read_store, resolved)
    except BaseException:
        read_store.close()
        raise
    status = RunStatus.from_end_record(end)
    environment["status"] = status.status
    return Trace(resolved, read_store, version, environment, events, environment["complete"], status)


def _read_log(read_store: store.ReadStore, path: Path) -> tuple[dict[str, Any], tuple[Event, ...],
                                                                 dict[str, Any] | None]:
    environment: dict[str, Any] = {}
    events: list[Event] = []
    ended = False
    complete = False
    end_record: dict[str, Any] | None = None
    segment = 0
    while True:
        data = read_store.get(log_key(segment), MAX_SEGMENT_BYTES)
        if data is None:
            break
        try:
            records = list(_unpack_records(data))
        except TraceFormatError as exc:
            raise TraceFormatError(f"{path}: log segment {segment} is corrupted: {exc}") from None
        for record in records:
            kind = record.get("type")
            if ended:
                raise TraceFormatError(f"{path}: records after the end record in segment {segment}")
            if kind == "environment":
                env = record.get("environment")
                if not isinstance(env, dict):
                    raise TraceFormatError(f"{path}: expected an environment mapping in segment {segment}")
                environment.update(env)
            elif kind == "event":
                ev = _event(record, path, segment)
                if ev.seq != len(events):
                    raise TraceFormatError(f"{path}: expected event #{len(events)}, got #{ev.seq} "
                                           f"(segment {segment}): the log has a gap")
                events.append(ev)
            elif kind == "end":
                ended = True
                end_record = record
                complete = record.get("complete") is True
                for key in ("end_time",):
                    if key in record:
                        environment[key] = record[key]
            else:
                raise TraceFormatError(f"{path}: unknown log record type {kind!r} in segment {segment}")
        segment += 1
    if segment == 0 or not environment and not events:
        raise TraceFormatError(f"{path}: the trace has no event log (log/0 is missing): "
                               "it was never written or is truncated")
    environment["complete"] = complete
    return environment, tuple(events), end_record


def _event(record: dict[str, Any], path: Path, segment: int) -> Event:
    try:
        return Event.from_dict(record)
    except TraceFormatError as exc:
        raise TraceFormatError(f"{path}: bad event record in log segment {segment}: {exc}") from None


def _unpack_records(data: bytes) -> Iterator[dict[str, Any]]:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, use_list=True,
                                max_buffer_size=len(data) + 1)
    unpacker.feed(data)
    try:
        for record in unpacker:
            if not isinstance(record, dict):
                raise TraceFormatError(f"expected a record mapping, got {type(record).__name__}")
            yield record
    except TraceFormatError:
        raise
    except Exception as exc:
        raise TraceFormatError(f"not msgpack: {type(exc).__name__}: {exc}") from None
    if unpacker.tell() != len(data):
        raise TraceFormatError(f"truncated record at byte {unpacker.tell()} of {len(data)}")
