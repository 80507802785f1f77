"""The ``zarr.json`` of one stored array, validated before any of its chunks is read.

Everything that decides how much memory a read takes is checked here: the shape
against the event's, the chunk shape against ``limits.MAX_CHUNK_BYTES``, the codecs
against the ones :mod:`codecs` decodes with a bounded output. A tftrace trace never
relies on zarr's ``fill_value``: the writer writes every chunk, so the reader treats
a missing chunk as corruption (docs/format.md).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from tftrace.errors import TraceFormatError
from tftrace.format import arrays, chunkio, limits
from tftrace.format.codecs import CodecChain, parse_codecs


@dataclass(frozen=True)
class ArrayMeta:
    """What reading one array needs: shapes, dtype, codecs, chunk keys."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype          # the stored zarr data type (native byte order)
    codecs: CodecChain
    separator: str           # of the chunk keys: "c.0.1" or "c/0/1"

    @property
    def chunk_elems(self) -> int:
        return math.prod(self.chunks)

    @property
    def chunk_bytes(self) -> int:
        return self.chunk_elems * self.dtype.itemsize

    @property
    def chunk_count(self) -> int:
        """How many chunk files the array has (tftrace writes all of them)."""
        if not self.shape:
            return 1
        return math.prod(-(-n // c) for n, c in zip(self.shape, self.chunks))

    def chunk_key(self, index: tuple[int, ...]) -> str:
        return "c" + "".join(f"{self.separator}{i}" for i in index)

    def max_stored_bytes(self) -> int:
        return self.codecs.max_stored_bytes(self.chunk_bytes, limits.COMPRESSED_SLACK)

    @functools.cached_property
    def contiguous(self) -> chunkio.Layout | None:
        """The contiguous layout tftrace writes (direct reads), or None (chunk by chunk)."""
        return self.layout()

    def layout(self) -> chunkio.Layout | None:
        """The contiguous layout tftrace writes (direct reads), or None (chunk by chunk)."""
        if self.codecs.endian != "little" or self.codecs.crc32c or self.codecs.compressor == "gzip":
            return None
        return chunkio.layout_of(self.shape, self.chunks, self.separator)


def parse_array_meta(raw: bytes, dtype: str, shape: tuple[int, ...] | None) -> ArrayMeta:
    """Validate an array's ``zarr.json`` against the event that points to it.

    ``dtype`` and ``shape`` are the event's logical ones. Raises
    :class:`TraceFormatError` with what was expected and what was found.
    """
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TraceFormatError(f"zarr.json is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("node_type") != "array" or meta.get("zarr_format") != 3:
        raise TraceFormatError("is not a zarr v3 array")
    zarr_attributes = meta.get("attributes")
    info = zarr_attributes.get("tftrace") if isinstance(zarr_attributes, dict) else None
    if not isinstance(info, Mapping) or info.get("dtype") != dtype:
        raise TraceFormatError(f"does not match its event (expected dtype {dtype}, got {_short(info)})")
    stored_shape = _stored_shape(meta.get("shape"), dtype, shape)
    stored = arrays.stored_dtype(dtype)
    if meta.get("data_type") != stored.name:
        raise TraceFormatError(f"expected stored dtype {stored.name}, got {_short(meta.get('data_type'))}")
    grid = meta.get("chunk_grid")
    config = grid.get("configuration") if isinstance(grid, dict) else None
    chunks_raw = config.get("chunk_shape") if isinstance(config, dict) else None
    if (not isinstance(grid, dict) or grid.get("name") != "regular" or not isinstance(chunks_raw, list)
            or len(chunks_raw) != len(stored_shape) or not all(_is_int(c) and c >= 1 for c in chunks_raw)):
        raise TraceFormatError(f"expected a regular chunk grid of {len(stored_shape)} positive ints, "
                               f"got {_short(grid)}")
    chunks = tuple(int(c) for c in chunks_raw)
    if math.prod(chunks) * stored.itemsize > limits.MAX_CHUNK_BYTES:
        raise TraceFormatError(f"chunks of {list(chunks)} {stored.name} are more than the "
                               f"{limits.MAX_CHUNK_BYTES} bytes a trace's chunks ever hold")
    key_encoding = meta.get("chunk_key_encoding", {"name": "default"})
    separator = _separator(key_encoding)
    if meta.get("storage_transformers"):
        raise TraceFormatError("uses storage transformers, which tftrace does not read")
    codecs = parse_codecs(meta.get("codecs"), stored.itemsize)
    return ArrayMeta(shape=stored_shape, chunks=chunks, dtype=stored, codecs=codecs, separator=separator)


def _stored_shape(raw: Any, dtype: str, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    if dtype == "string":  # one msgpack value of any length in a 1-D uint8 array
        if not (isinstance(raw, list) and len(raw) == 1 and _is_int(raw[0]) and raw[0] >= 0
                and raw[0] <= limits.MAX_ARRAY_BYTES):
            raise TraceFormatError(f"has shape {_short(raw)}, expected [<bytes>]")
        return (int(raw[0]),)
    if not isinstance(raw, list) or tuple(raw) != shape or not all(_is_int(n) for n in raw):
        raise TraceFormatError(f"has shape {_short(raw)}, expected {list(shape or ())}")
    return tuple(int(n) for n in raw)


def _separator(encoding: Any) -> str:
    config = encoding.get("configuration", {}) if isinstance(encoding, dict) else None
    separator = config.get("separator", "/") if isinstance(config, dict) else None
    if not isinstance(encoding, dict) or encoding.get("name") != "default" or separator not in chunkio.SEPARATORS:
        raise TraceFormatError(f"expected the default chunk key encoding with separator '.' or '/', "
                               f"got {_short(encoding)}")
    return str(separator)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
