"""Stream the records of one log segment with bounded memory.

A segment is read through a fixed-size buffer, one record at a time: no record may
exceed ``limits.MAX_RECORD_BYTES``, no string, bin, list or map more than the limits
below, no msgpack extension type (a Timestamp is refused, not decoded). The memory a
segment costs is then one record plus what the caller keeps of it, whatever the
segment's size.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Iterator

import msgpack

from tftrace.errors import TraceFormatError
from tftrace.format import limits
from tftrace.format.store import ReadStore
from tftrace.format.writer import log_key

READ_SIZE = 256 << 10


def _refuse_ext(code: int, data: bytes) -> Any:
    raise TraceFormatError(f"a msgpack extension type ({code}) where only plain values belong")


def segment_records(read_store: ReadStore, index: int) -> Iterator[dict[str, Any]] | None:
    """The records of segment ``index`` one by one, or None when the segment is absent.

    Raises :class:`TraceFormatError` ("not msgpack", "truncated record", ...) as the
    bad bytes are reached; the message does not name the path or segment (callers do).
    """
    key = log_key(index)
    size = read_store.size(key)
    if size is None:
        return None
    return _records(read_store, key, size)


def _records(read_store: ReadStore, key: str, size: int) -> Iterator[dict[str, Any]]:
    with read_store.open(key, limits.MAX_SEGMENT_BYTES) as stream:
        if stream is None:  # removed since size() looked
            return
        unpacker = msgpack.Unpacker(
            _Reader(read_store, stream, key), read_size=READ_SIZE, raw=False, strict_map_key=True, use_list=True,
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
        if unpacker.tell() != size:
            raise TraceFormatError(f"truncated record at byte {unpacker.tell()} of {size}")


class _Reader:
    """The stream msgpack reads, with read errors (a corrupted deflate stream in a zip)
    reported as errors of reading the key, not as bad msgpack."""

    def __init__(self, read_store: ReadStore, stream: BinaryIO, key: str):
        self._store, self._stream, self._key = read_store, stream, key

    def read(self, size: int) -> bytes:
        return self._store.read_block(self._stream, self._key, size)
