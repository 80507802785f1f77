"""Stream the log with bounded memory: the records of one segment (``segment_records``),
and the checked records of the whole log (``log_items``), one at a time.

A segment is read through a fixed-size buffer, one record at a time: no record may
exceed ``limits.MAX_RECORD_BYTES``, no string, bin, list or map more than the limits
below, no msgpack extension type (a Timestamp is refused, not decoded). The memory a
segment costs is then one record plus what the caller keeps of it, whatever the
segment's size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import msgpack

from tftrace.errors import TraceFormatError
from tftrace.format import compact_log as compact, fields, limits
from tftrace.format.schema import Event, array_key_for, compact_log
from tftrace.format.status import RUN_STATUSES
from tftrace.format.store import ReadStore
from tftrace.format.writer import log_key

READ_SIZE = 256 << 10


def _refuse_ext(code: int, data: bytes) -> Any:
    raise TraceFormatError(f"a msgpack extension type ({code}) where only plain values belong")


def segment_records(read_store: ReadStore, index: int, deflated: bool = False
                    ) -> Iterator[dict[str, Any]] | None:
    """The records of segment ``index`` one by one, or None when the segment is absent.
    ``deflated``: the segment is one zlib stream (format 5's compact log).

    Raises :class:`TraceFormatError` ("not msgpack", "truncated record", ...) as the
    bad bytes are reached; the message does not name the path or segment (callers do).
    """
    key = log_key(index)
    size = read_store.size(key)
    if size is None:
        return None
    return _records(read_store, key, size, deflated)


def _records(read_store: ReadStore, key: str, size: int, deflated: bool) -> Iterator[dict[str, Any]]:
    with read_store.open(key, limits.MAX_SEGMENT_BYTES) as stream:
        if stream is None:  # removed since size() looked
            return
        reader: Any = _Reader(read_store, stream, key)
        if deflated:
            reader = compact.Inflating(reader, limits.MAX_SEGMENT_BYTES)
        unpacker = msgpack.Unpacker(
            reader, read_size=READ_SIZE, raw=False, strict_map_key=True, use_list=True,
            timestamp=0, ext_hook=_refuse_ext, max_buffer_size=limits.MAX_RECORD_BYTES,
            max_str_len=limits.MAX_RECORD_BYTES, max_bin_len=limits.MAX_RECORD_BYTES,
            max_array_len=limits.MAX_CONTAINER_ITEMS, max_map_len=limits.MAX_CONTAINER_ITEMS,
            max_ext_len=64)
        while True:
            try:
                record = unpacker.unpack()
            except msgpack.OutOfData:
                break
            except TraceFormatError:
                raise
            except msgpack.BufferFull:
                raise TraceFormatError(f"a record larger than {limits.MAX_RECORD_BYTES} bytes "
                                       f"at byte {unpacker.tell()}") from None
            except Exception as exc:  # msgpack raises several unrelated types
                raise TraceFormatError(f"not msgpack: {type(exc).__name__}: {exc}") from None
            if not isinstance(record, dict):
                raise TraceFormatError(f"expected a record map, got {type(record).__name__}")
            yield record
        if deflated and (unpacker.tell() != reader.produced or not reader.finished()):
            raise TraceFormatError(f"truncated record at byte {unpacker.tell()} of the inflated segment")
        if not deflated and unpacker.tell() != size:
            raise TraceFormatError(f"truncated record at byte {unpacker.tell()} of {size}")


class _Reader:
    """The stream msgpack reads, with read errors (a corrupted deflate stream in a zip)
    reported as errors of reading the key, not as bad msgpack."""

    def __init__(self, read_store: ReadStore, stream: BinaryIO, key: str):
        self._store, self._stream, self._key = read_store, stream, key

    def read(self, size: int) -> bytes:
        return self._store.read_block(self._stream, self._key, size)


@dataclasses.dataclass(frozen=True)
class LateValue:
    """A ``value`` record met by :meth:`Trace.stream_events` (format 4): the array of the
    earlier event ``seq`` is stored at ``array_key``."""

    seq: int
    array_key: str


def log_items(read_store: ReadStore, path: Path | str, version: int,
               environment: dict[str, Any]) -> Iterator[tuple[int, str, Any]]:
    """Walk the log record by record, checking each: ``(segment, "event", Event)``,
    ``(segment, "value", LateValue)``, ``(segment, "end", record)``; environment records
    are merged into ``environment``. Yields ``(-1, "none", None)`` when there is no log/0.
    Holds one record at a time."""
    ended = False
    count = 0
    segment = 0
    while True:
        records = segment_records(read_store, segment, deflated=compact_log(version))
        if records is None:
            break
        where = f"{path}: log segment {segment}"
        try:
            for record in records:
                kind = record.get("type")
                if ended:
                    raise TraceFormatError(f"{path}: records after the end record in segment {segment}")
                if kind == "environment":
                    environment.update(_environment(record.get("environment"), where))
                elif kind == "event":
                    if compact_log(version):
                        record = _expanded(record, count, path, segment)
                    ev = _event(record, path, segment)
                    if ev.seq != count:
                        raise TraceFormatError(f"{path}: expected event #{count}, got #{ev.seq} "
                                               f"(segment {segment}): the log has a gap")
                    count += 1
                    yield segment, "event", ev
                elif kind == "value" and version in (4, 5):  # a recording against a trace
                    yield segment, "value", late_value(record, count, where)
                elif kind == "end":
                    ended = True
                    _end_field(record, "complete", fields.BOOL, where)
                    _end_status(record, where)
                    end_time = _end_field(record, "end_time", fields.NUMBER, where)
                    if end_time is not None:
                        environment["end_time"] = end_time
                    yield segment, "end", record
                else:
                    raise TraceFormatError(f"{path}: unknown log record type {kind!r:.60} in segment {segment}")
        except TraceFormatError as exc:
            if str(exc).startswith(str(path)):
                raise
            raise TraceFormatError(f"{where} is corrupted: {exc}") from None
        segment += 1
    if segment == 0:
        yield -1, "none", None


def late_value(record: dict[str, Any], count: int, where: str) -> LateValue:
    seq = record.get("seq")
    if type(seq) is not int or not 0 <= seq < count:
        raise TraceFormatError(f"{where}: bad value record: seq: expected the seq of an earlier "
                               f"event (0 to {count - 1}), got {fields.describe(seq)}")
    key = record.get("array_key")
    if key != array_key_for(seq):
        raise TraceFormatError(f"{where}: bad value record for event #{seq}: expected "
                               f"array_key {array_key_for(seq)!r} for an event holding statistics "
                               f"without a value, got {fields.describe(key)}")
    return LateValue(seq, key)


def _environment(env: Any, where: str) -> dict[str, Any]:
    try:
        return fields.check_environment(env)
    except TraceFormatError as exc:
        raise TraceFormatError(f"{where}: bad environment record: {exc}") from None


def _end_field(record: dict[str, Any], key: str, field_type: fields.FieldType, where: str) -> Any:
    value = record.get(key)
    if key in record and not field_type.check(value):
        raise TraceFormatError(f"{where}: bad end record: {key}: expected {field_type.expected}, "
                               f"got {fields.describe(value)}")
    return value


_RUN_STATUS = fields.FieldType(f"one of {', '.join(RUN_STATUSES)}", lambda x: x in RUN_STATUSES)
_EXCEPTION = fields.FieldType("a map of str (type, message, traceback)", lambda x: isinstance(x, dict) and all(
    isinstance(k, str) and isinstance(v, str) for k, v in x.items()))


def _end_status(record: dict[str, Any], where: str) -> None:
    """The run-status keys of the end record (docs/format.md), checked like every field."""
    _end_field(record, "status", _RUN_STATUS, where)
    _end_field(record, "exception", _EXCEPTION, where)
    _end_field(record, "signal", fields.STR, where)


def _event(record: dict[str, Any], path: Path | str, segment: int) -> Event:
    try:
        return Event.from_dict(record)
    except TraceFormatError as exc:
        raise TraceFormatError(f"{path}: bad event record in log segment {segment}: {exc}") from None


def _expanded(record: dict[str, Any], seq: int, path: Path | str, segment: int) -> dict[str, Any]:
    try:
        return compact.expand_event(record, seq)
    except TraceFormatError as exc:
        raise TraceFormatError(f"{path}: bad event record in log segment {segment}: {exc}") from None
