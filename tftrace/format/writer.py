"""Write a trace incrementally: events to an append-only log, values to zarr arrays.

Crash safety rests on three rules: the store's metadata is written once, at
creation; every log segment is a new file written atomically; an event record is
appended only after its array is on disk, and a segment written only after the pack
of the values it logs is closed (format/value_packs.py). A process killed at any moment leaves
a trace that opens, lacks the closing ``end`` record (so it reads as incomplete)
and holds every event of every segment flushed before the kill.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from functools import partial
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tftrace.errors import TftraceError, TraceClosedError, TraceWriteError, UsageError
from tftrace.format import arrays, digest, limits, remote, remote_writer, store, zipping
from tftrace.format.checked_attrs import REMEMBERED, CheckedAttrs
from tftrace.format.compact_log import FLUSH_EVERY as COMPACT_FLUSH, deflate, packed_event_record
from tftrace.format.events import EVENT_KINDS, EventAttrs, event_kind
from tftrace.format.fields import FieldError, check_environment
from tftrace.format.occurrences import Occurrences
from tftrace.format.progress import Work
from tftrace.format.schema import (COMPACT_FORMAT_VERSION, FORMAT_NAME, FORMAT_VERSION, Event,
                                   ValueSummary, array_key_for, check_name)
from tftrace.format.packing import pack as _pack, plain as _plain
from tftrace.format.prepared import PreparedEvent, packer, spliced_records
from tftrace.format.status import RunStatus
from tftrace.format.value_files import WORKERS, StagedValue, stage_value, store_value, write_array
from tftrace.format.value_packs import PACK_BYTES, PackWriter
from tftrace.format.write_errors import write_error as _write_error, writing

CAPTURE_MODES = ("full", "stats")
#: A segment is written at least this often while events arrive (and on flush/close).
FLUSH_SECONDS = 0.5
FLUSH_RECORDS = 512


def log_key(index: int) -> str:
    return f"log/{index}"


class TraceWriter:
    """Append events (with optional values) to a new trace.

    Use :meth:`create`; every method is thread-safe.
    """

    def __init__(self, path: Path | str, directory: Path, capture: str, environment: Mapping[str, Any],
                 digest_scheme: str = digest.DIGEST_SCHEME, late_values: bool = False):
        self.path = path
        self.directory = directory
        self.capture = capture
        self.digest_scheme = digest_scheme
        self._lock = threading.RLock()
        self._start = time.time()
        self._pending: list[bytes] = []
        self._segment = 0
        self._last_flush = time.monotonic()
        self._occurrences = Occurrences()
        self.counts: Counter[str] = Counter()  # events written, per kind
        self.value_bytes = 0  # bytes of the values given, for progress
        self._seq = 0
        self._closed = False
        self.late_values = late_values
        self._late: set[int] = set()  # events given their value after them (add_value)
        self._attrs = CheckedAttrs()  # typed attrs checked once per object
        self._names: dict[int, str] = {}  # id -> name checked
        self._packer = packer()  # of prepared records (add_prepared)
        self._output_lock: store.OutputLock | None = None
        self._mirror: remote.Mirror | None = None  # uploads to a URL target
        self._workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tftrace-writer")
        # Version 5 (the compact log, every value an array) where value records may appear.
        version = COMPACT_FORMAT_VERSION if late_values else FORMAT_VERSION
        self._packs = PackWriter(directory)
        self._flush_every = COMPACT_FLUSH if late_values else (FLUSH_RECORDS, FLUSH_SECONDS)
        store.create_group(directory, {"tftrace": {"format": FORMAT_NAME, "format_version": version}})
        store.create_group(directory / "arrays", {})
        env = {"capture": capture, "start_time": self._start, **dict(environment)}
        self._append({"type": "environment", "environment": _checked_environment(env)})
        self.flush()

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, environment: Mapping[str, Any] | None = None,
               capture: str = "full", overwrite: bool = False,
               digest_scheme: str = digest.DIGEST_SCHEME, late_values: bool = False) -> TraceWriter:
        """Start a new trace at ``path`` (``X.zarr`` directory or ``X.zarr.zip``).

        Parameters
        ----------
        path : path-like
            Where the trace goes (a ``.zip`` path: into ``<path>.partial/``, packed on :meth:`close`).
        environment : mapping, optional
            The environment record (versions, host, seeds...), msgpack-able values.
        capture : {"full", "stats"}
            ``"stats"`` keeps statistics and digests but no tensor values.
        overwrite : bool
            Replace an existing trace at ``path``.
        digest_scheme : str
            One of ``digest.WRITABLE_DIGEST_SCHEMES``; default: the fast CRC tree (format.md).
        late_values : bool
            The trace may give an event its value after the event (:meth:`add_value`) and
            end ``stopped``: written as format version 5, with the compact log (else 3).
        """
        if capture not in CAPTURE_MODES:
            raise UsageError(f"capture must be one of {', '.join(CAPTURE_MODES)}; got {capture!r}")
        if digest_scheme not in digest.WRITABLE_DIGEST_SCHEMES:
            raise UsageError(f"digest scheme must be one of {', '.join(digest.WRITABLE_DIGEST_SCHEMES)}; "
                             f"got {digest_scheme!r}")
        if remote.is_url(path):
            return remote_writer.create_remote(cls, str(path), environment or {}, capture, overwrite, digest_scheme,
                                      late_values)
        target = Path(remote.local_path(path))
        directory = store.partial_dir(target) if store.is_zip_path(target) else target
        # The lock comes first: a second recorder fails here, touching nothing, even with overwrite.
        with writing(target):
            lock = store.OutputLock(target)
        try:
            with writing(target):
                if store.is_zip_path(target):
                    store.prepare_directory(target, overwrite)
                store.prepare_directory(directory, overwrite)
                writer = cls(target, directory, capture, environment or {}, digest_scheme, late_values)
        except BaseException:
            lock.release()
            raise
        writer._output_lock = lock
        return writer

    @property
    def closed(self) -> bool:
        return self._closed

    def add_event(self, kind: str, name: str, *, step: int = 0, value: Any = None,
                  attrs: EventAttrs | Mapping[str, Any] | None = None,
                  keep_value: bool | None = None) -> Event:
        """Append one event; store ``value`` (unless capture is "stats") before logging it.

        ``attrs``: the typed attrs of ``kind`` (format/events.py), or their stored map.
        ``value`` may be a :class:`~tftrace.format.schema.ValueSummary` (statistics
        without the value: no array, no digest).
        ``keep_value`` overrides the writer's capture mode for this event (a stream
        captured at its own level: values kept, or statistics and digest only).
        Typed attrs are frozen: an object given again is not checked again (nor an op's
        but its ``inputs``: format/checked_attrs.py); their maps must not change.
        """
        _check_kind(kind)
        if self._names.get(id(name)) is not name:  # a captured stream gives the same str each time
            self._names = self._names if len(self._names) < REMEMBERED else {}
            self._names[id(name)] = check_name(name, allow_empty=True)
        checked_attrs, attrs_packed = self._attrs.stored(kind, attrs)  # before anything is written
        with self._lock:
            try:
                self._check_open()
                seq = self._seq
                occurrence = self._occurrences.next(kind, name, step)
                # All or nothing: a value whose record cannot be logged leaves no array behind,
                # and the next event gets this sequence number.
                fields, nbytes = dict[str, Any](), 0
                try:
                    if isinstance(value, ValueSummary):  # statistics computed where the value was
                        fields = {"shape": value.shape, "dtype": value.dtype, "stats": value.stats}
                    elif isinstance(value, StagedValue):  # stored as it arrived (stage)
                        fields, nbytes = value.fields_for(self, self._keeps(keep_value)), value.nbytes
                    elif value is not None:
                        keep = self._keeps(keep_value)
                        array = arrays.as_array(value)
                        # a recording against a trace (late values) stores arrays only: format 5
                        pack = None if self.late_values else (partial(self._packs.append, self._segment), kind)
                        fields = store_value(self.directory, seq, array, keep, self.digest_scheme, self._workers,
                                             pack)
                        nbytes = array.nbytes
                    leaves, array_key = fields.pop("crc", None), fields.get("array_key")
                    event = Event(seq=seq, kind=event_kind(kind), name=name, step=step, occurrence=occurrence,
                                  time=time.time() - self._start, attrs=checked_attrs, **fields)
                    record = packed_event_record(event, leaves, self.late_values, attrs_packed)
                except BaseException:
                    _remove_tree(self.directory / array_key_for(seq))
                    if fields.get("packed") is not None:
                        self._packs.take_back(fields["array_key"], fields["packed"])
                    raise
            except OSError as exc:
                if isinstance(exc, TftraceError):
                    raise
                raise _write_error(self.path, exc) from exc
            if self._mirror is not None and array_key and event.packed is None:
                self._mirror.wrote(array_key)  # uploaded before the segment logging it
            self.value_bytes += nbytes
            self._logged(record, kind, name, step, occurrence)
            return event

    def stage(self, kind: str, value: Any) -> StagedValue | None:
        """Store a ``kind`` event's value now, in the calling thread (several threads may at
        once), its event logged later: give what this returns to :meth:`add_event` or
        :meth:`add_prepared`; None when it is not stored so (``value_files.stage_value``)."""
        if self.late_values or self._closed:
            return None
        with writing(self.path):
            return stage_value(value, kind, self.digest_scheme, partial(self._packs.append_bytes, self._segment),
                               self)

    def prepare(self, kind: str, name: str, attrs: EventAttrs) -> PreparedEvent:
        """An event written again and again (each execution of a traced function): its name
        and attrs checked once (:class:`UsageError`), its record's constant parts packed
        once (format/prepared.py); write each with :meth:`add_prepared`."""
        _check_kind(kind)
        return PreparedEvent(kind, name, attrs, self._attrs, spliced=not self.late_values)

    def add_prepared(self, prepared: PreparedEvent, step: int, value: Any,
                     values: Sequence[int] | None = None, keep_value: bool | None = None) -> int:
        """Append one event of ``prepared`` at ``step``; returns its seq. ``values``: its
        per-execution field (an op's ``inputs``). A ``ValueSummary`` or a value this writer
        staged (:meth:`stage`) is written from the prepared pieces, anything else as
        :meth:`add_event` writes it (the same record)."""
        kind, name = prepared.kind, prepared.name
        staged = type(value) is StagedValue and value.owner is self and self._keeps(keep_value)
        if (staged or type(value) is ValueSummary) and prepared.accepts(values):
            with self._lock:
                self._check_open()
                seq, occurrence = self._seq, self._occurrences.next(kind, name, step)
                try:
                    record = prepared.record(seq, step, occurrence, time.time() - self._start,
                                             value.summary if staged else value, values, self._packer,
                                             value if staged else None)
                except (TypeError, ValueError, OverflowError):  # not storable: add_event's error
                    record = None
                if record is not None:
                    if staged:
                        self.value_bytes += value.nbytes
                    self._logged(record, kind, name, step, occurrence)
                    return seq
        return self.add_event(kind, name, step=step, value=value, attrs=prepared.attrs_with(values),
                              keep_value=keep_value).seq

    def add_prepared_batch(self, events: Sequence[PreparedEvent], step: int, lows: Sequence[float],
                           highs: Sequence[float], means: Sequence[float], values: Callable[[int], Any]) -> int:
        """:meth:`add_prepared` of each of ``events`` in turn, under one lock, for statistics
        without NaN or Inf of values each is ``ready_for``; returns the first's seq, all logged or
        none. ``values(seq)``: each one's per-execution field (accepted), given the first's seq."""
        keys = [event.key for event in events]
        with self._lock:
            self._check_open()
            seq, occurrences = self._seq, self._occurrences.next_many(keys, step)
            records = spliced_records(events, seq, step, occurrences, self._start, lows, highs, means,
                                      values(seq), self._packer)
            self._occurrences.written_many(keys, step, occurrences)
            self._pending += records
            self._seq += len(records)
            self.counts.update(kind for kind, _ in keys)
            self._flush_if_due()
            return seq

    def _keeps(self, keep_value: bool | None) -> bool:
        return self.capture == "full" if keep_value is None else keep_value

    def _logged(self, record: bytes, kind: str, name: str, step: int, occurrence: int) -> None:
        """Count the event whose ``record`` takes the next seq, and write a segment when
        due (under the lock)."""
        self._pending.append(record)
        self._seq += 1
        self.counts[kind] += 1
        self._occurrences.written(kind, name, step, occurrence)
        self._flush_if_due()

    def _flush_if_due(self) -> None:
        if len(self._pending) >= self._flush_every[0] or time.monotonic() - self._last_flush >= self._flush_every[1] \
                or self._packs.size >= PACK_BYTES:
            self.flush()

    def add_value(self, event: Event, value: Any) -> None:
        """Store the value of an event written earlier without one (a ``value`` record,
        format version 4): the array first, then the record, as for an event.

        ``event`` is what :meth:`add_event` returned (statistics and digest, no array);
        ``value`` must be the value it summarized (same shape and dtype).
        """
        if not self.late_values:
            raise UsageError(f"{self.path}: this trace was not created with late_values=True; "
                             "expected a trace that may hold value records (format version 4)")
        array = arrays.as_array(value)
        dtype = arrays.logical_dtype(array)
        shape = tuple(int(n) for n in array.shape)
        if event.array_key is not None or event.dtype is None or (dtype, shape) != (event.dtype, event.shape):
            raise UsageError(f"{self.path}: cannot store a value of {dtype}{list(shape)} for event "
                             f"#{event.seq} {event.name!r}; expected an event without a stored value "
                             f"of {event.dtype}{list(event.shape or ())}")
        with self._lock, writing(self.path):
            self._check_open()
            if event.seq in self._late or event.seq >= self._seq:
                raise UsageError(f"{self.path}: event #{event.seq} already has a value record or "
                                 f"was not written; expected one value per earlier event")
            key = array_key_for(event.seq)
            stored, encoding = arrays.encode(array, dtype)
            try:
                write_array(self.directory / key, stored, dtype, shape, encoding)
                record = _pack({"type": "value", "seq": event.seq, "array_key": key}, "value record")
            except BaseException:
                _remove_tree(self.directory / key)
                raise
            self._pending.append(record)
            self._late.add(event.seq)

    def progress(self) -> Work:
        """Events written so far and the bytes of their values (no totals: still running)."""
        return Work(self._seq, None, self.value_bytes, None)

    def update_environment(self, **fields: Any) -> None:
        """Merge fields into the environment record (appended to the log, read back merged)."""
        with self._lock, writing(self.path):
            self._check_open()
            self._append({"type": "environment", "environment": _checked_environment(fields)})

    def flush(self) -> None:
        """Write the pending log records as one new segment; durable against process death."""
        with self._lock, writing(self.path):
            if not self._pending:
                return
            data = deflate(b"".join(self._pending)) if self.late_values else b"".join(self._pending)
            for pack in self._packs.close():  # whole before the segment that logs its values
                if self._mirror is not None:
                    self._mirror.wrote(pack)
            store.write_atomic(self.directory / log_key(self._segment), data)
            if self._mirror is not None:
                self._mirror.wrote(log_key(self._segment))
            self._segment += 1
            self._pending.clear()
            self._last_flush = time.monotonic()
            if self._mirror is not None:
                self._mirror.sync()

    def close(self, *, complete: bool = True, status: RunStatus | None = None) -> None:
        """Finish the trace: append the ``end`` record and, for a zip target, pack it.

        ``status`` says how the run ended (docs/format.md); without it a complete trace
        ends ``completed`` and an incomplete one ``raised``.
        """
        with self._lock:
            if self._closed:
                return
            if status is None:
                status = RunStatus("completed" if complete else "raised")
            end = time.time()
            self._packs.seal()  # a value staged from now on is given as it is (and refused)
            self._append({"type": "end", "end_time": end,
                          "complete": bool(complete) and status.completed,
                          "event_count": self._seq, **status.to_end_record()})
            try:
                self.flush()  # raises TraceWriteError
                self._closed = True
                self._workers.shutdown()
                if self._mirror is not None:
                    remote_writer.close_remote(self, self._mirror)
                elif store.is_zip_path(self.path):
                    with writing(self.path):
                        zipping.pack(self.directory, Path(self.path))
                    _remove_tree(self.directory)
            finally:
                self._closed = True
                if self._output_lock is not None:
                    self._output_lock.release()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close(complete=False, status=RunStatus("raised", exc_type.__name__, str(exc)))

    def _append(self, record: dict[str, Any]) -> None:
        self._pending.append(_pack(record, "log record"))

    def _check_open(self) -> None:
        if self._closed:
            raise TraceClosedError(f"{self.path}: the trace writer is closed")


def _checked_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    plain = _plain(dict(environment), limits.MAX_RECORD_BYTES // 2, "an environment record")
    try:
        return check_environment(plain)
    except FieldError as exc:
        raise UsageError(f"cannot record this environment: {exc}") from None


def _check_kind(kind: str) -> None:
    if kind not in EVENT_KINDS:
        raise UsageError(f"event kind must be one of {', '.join(EVENT_KINDS)}; got {kind!r}")


def _remove_tree(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
