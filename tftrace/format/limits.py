"""Bounds on what a reader accepts from a trace: a trace is untrusted input.

Every size the reader allocates follows from one of these numbers or from bytes
that are actually in the store, so memory stays bounded by the input
(docs/format.md, "Reading untrusted traces" lists them and the resulting bound).
The writer stays well inside them.
"""

from __future__ import annotations

#: Characters of an event name (the writer refuses longer ones).
MAX_NAME_CHARS = 1 << 16
#: Dimensions of an array.
MAX_RANK = 64
#: Nesting of lists and maps in attrs and the environment (a map in a list in a map... ).
MAX_DEPTH = 32
#: Elements of one msgpack list and entries of one map in a log record.
MAX_CONTAINER_ITEMS = 1 << 20
#: One log record (the writer's are a few hundred bytes; attrs are at most 1 MiB).
MAX_RECORD_BYTES = 16 << 20
#: The serialized attrs of one event, as the writer checks them.
MAX_ATTRS_BYTES = 1 << 20
#: One log segment (the writer flushes every 512 records or 0.5 s: a few kB to MB).
MAX_SEGMENT_BYTES = 256 << 20
#: A ``zarr.json`` (root, group or array).
MAX_META_BYTES = 1 << 20
#: One decoded chunk. tftrace writes chunks of at most 8 MiB (``arrays.CHUNK_BYTES``).
MAX_CHUNK_BYTES = 64 << 20
#: The stored bytes of one array, whatever its chunks.
MAX_ARRAY_BYTES = 1 << 40
#: Bytes a compressed chunk file may take beyond its decoded size (zstd and deflate add
#: well under 1% plus a few hundred bytes to data that does not compress).
COMPRESSED_SLACK = 64 << 10

#: What the events kept by an opened trace cost, per byte of their records in the log:
#: measured 3.6 (millions of minimal records) to 5 (real recordings). Documented, with
#: margin, as the reader's memory bound (docs/format.md); not enforced.
MEMORY_PER_LOG_BYTE = 8
