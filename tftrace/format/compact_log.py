"""The compact event log of format version 5: deflated segments, and event records
without what the reader can rebuild (docs/format.md, "The compact log").

An event's record in a version-5 log leaves out its ``seq`` (its place in the log),
``stats.size`` (the number of elements of its shape), zero ``nan`` / ``inf`` counts, a
nil ``array``, step 0 and occurrence 0; a digest of the CRC-32C tree of at most
``MAX_CRC_LEAVES`` pieces is stored as ``crc``, the pieces' CRCs (4 bytes each), from
which the reader recomputes the digest string exactly. Each segment is one zlib
stream of the records. What an event holds is unchanged: statistics and digest.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, BinaryIO, Mapping

from tftrace.errors import TraceFormatError
from tftrace.format import digest as digests
from tftrace.format.fields import describe
from tftrace.format.packing import pack
from tftrace.format.schema import Event

#: A digest whose tree has more pieces than this (arrays over 32 MiB) is stored as its
#: string: 4 bytes per piece would then be longer than the 32-byte root.
MAX_CRC_LEAVES = 8
#: zlib level of a segment (segments are ~100 kB: level 9 costs a few ms each).
LEVEL = 9
#: A compact log is written at least this often while events arrive (and on flush/close):
#: a segment per 0.5 s made hundreds of files of a few hundred bytes on a slow run, each
#: taking a 4 KiB block; a killed recording against a trace keeps what was logged 5 s before.
FLUSH_EVERY = (4096, 5.0)  # records, seconds
_DEFAULTS = {"occ": 0, "step": 0, "array": None}


def event_record(event: Event, leaves: bytes | None, compact: bool) -> dict[str, Any]:
    """The log record of ``event``: as a version-5 log stores it when ``compact``."""
    record = {"type": "event", **event.to_dict()}
    return compact_event(record, leaves) if compact else record


def packed_event_record(event: Event, leaves: bytes | None, compact: bool, attrs: bytes) -> bytes:
    """``event_record(event, leaves, compact)`` packed (the same bytes), with the attrs'
    stored map given packed (``attrs``: the writer packs each attrs object's map once).

    A msgpack map is its header, then each key and value: the record is the map of the
    other keys with the attrs (and ``crc``, which follows them) spliced in.
    """
    record = {"type": "event", "seq": event.seq, "kind": event.kind, "name": event.name,
              "step": event.step, "occ": event.occurrence, "t": event.time}  # Event.to_dict's order
    if event.dtype is not None:
        stats = event.stats
        record.update(shape=list(event.shape or ()), dtype=event.dtype,
                      stats=stats.to_dict() if stats else None, digest=event.digest,
                      array=event.array_key)
        if event.packed is not None:
            record["pack"] = event.packed.to_list()
    if compact:
        record = compact_event(record, leaves)
    crc = record.pop("crc", None)
    tail = [b"\xa5attrs", attrs] if attrs != b"\x80" else []  # an empty map is left out
    if crc is not None:
        tail.append(pack({"crc": crc}, "event record")[1:])
    body = pack(record, "event record")
    count = len(record) + (len(tail) + 1) // 2
    assert body[0] == 0x80 | len(record) and count < 16  # fixmaps: at most 15 keys
    return bytes([0x80 | count]) + body[1:] + b"".join(tail)


def compact_event(record: dict[str, Any], leaves: bytes | None) -> dict[str, Any]:
    """``record`` (an event's ``to_dict()``) as a version-5 log stores it; ``leaves``: the
    CRCs of its digest's pieces (None: keep the digest string)."""
    out = {k: v for k, v in record.items() if k != "seq" and not (k in _DEFAULTS and v == _DEFAULTS[k])}
    stats = out.get("stats")
    if stats is not None:
        out["stats"] = {k: v for k, v in stats.items() if k != "size" and not (k in ("nan", "inf") and v == 0)}
    dg = out.get("digest")
    if leaves is not None and isinstance(dg, str) and dg.startswith(digests.DIGEST_SCHEME + ":") \
            and 0 < len(leaves) <= 4 * MAX_CRC_LEAVES:
        del out["digest"]
        out["crc"] = leaves
    return out


def expand_event(record: dict[str, Any], seq: int) -> dict[str, Any]:
    """A version-5 event record as ``Event.from_dict`` reads it (the fields rebuilt)."""
    if "seq" in record:
        raise TraceFormatError(f"event #{seq}: a version-5 event record has no seq; got one")
    out = {**record, "seq": seq}
    shape = out.get("shape")
    stats = out.get("stats")
    if isinstance(stats, Mapping) and isinstance(shape, list) and all(type(n) is int for n in shape):
        if "size" in stats:
            raise TraceFormatError(f"event #{seq}: a version-5 record's stats hold no size; got one")
        out["stats"] = {**stats, "size": math.prod(shape)}
    crc = out.pop("crc", None)
    if crc is not None:
        if not isinstance(crc, bytes) or not crc or len(crc) % 4 or len(crc) > 4 * MAX_CRC_LEAVES \
                or "digest" in out or type(out.get("dtype")) is not str or not isinstance(shape, list) \
                or not all(type(n) is int for n in shape):
            raise TraceFormatError(f"event #{seq}: crc: expected 4 to {4 * MAX_CRC_LEAVES} bytes "
                                   f"(a multiple of 4) beside a dtype and shape and no digest, "
                                   f"got {describe(crc)}")
        out["digest"] = digests.crc_tree_digest(out["dtype"], tuple(shape), crc)
    return out


def deflate(data: bytes) -> bytes:
    """A segment's records as the version-5 log stores them."""
    return zlib.compress(data, LEVEL)


class Inflating:
    """The stream msgpack reads from a deflated segment: at most ``limit`` bytes come out
    (more is corruption: the writer's segments are far smaller), read as asked."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream: BinaryIO = stream
        self._inflate = zlib.decompressobj()
        self._limit = limit
        self.produced = 0

    def read(self, size: int) -> bytes:
        out = b""
        while len(out) < size and not self._inflate.eof:
            data = self._inflate.unconsumed_tail or self._stream.read(64 << 10)
            if not data:
                raise TraceFormatError("truncated deflate stream")
            try:
                out += self._inflate.decompress(data, size - len(out))
            except zlib.error as exc:
                raise TraceFormatError(f"not a deflate stream: {exc}") from None
        self.produced += len(out)
        if self.produced > self._limit:
            raise TraceFormatError(f"a segment that inflates to more than {self._limit} bytes")
        return out

    def finished(self) -> bool:
        """The deflate stream ended, and nothing follows it."""
        return self._inflate.eof and not self._inflate.unused_data and not self._stream.read(1)
