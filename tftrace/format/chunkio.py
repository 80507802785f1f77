"""Fast chunk I/O for the layout tftrace writes, readable by any zarr v3 reader.

tftrace chunks every array into C-contiguous blocks (see ``arrays.chunk_shape``):
leading axes of 1, one split axis, whole trailing axes. Each chunk is then one
contiguous range of the flat array, so a chunk file is written straight from
the array's memory and read straight into the output, without zarr-python's
intermediate copies. Any other regular chunking (a trace rewritten by another zarr
tool) is read chunk by chunk with :func:`read_region`; both paths decode through
:mod:`codecs`, whose output never exceeds a chunk's declared size.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numcodecs
import numpy as np

from tftrace.errors import TraceFormatError
from tftrace.format import codecs

if TYPE_CHECKING:
    from tftrace.format.array_meta import ArrayMeta

#: Compress a value only when a sample of it shrinks at least this much: zstd pays in time
#: only on values it shrinks a lot, and on those it runs fast. On MobileNetV2's 2817 op
#: values of a training step (measured value by value), zstd level 1 took 0.60 s for the 167 MB
#: shrinking by 10-48% (ReLU outputs and their gradients, half zeros: 277 MB/s, against
#: ~5 GB/s to write them raw) and 0.05 s for the 219 MB shrinking by more (broadcasts and
#: constants, to 1.7 MB: 4.6 GB/s); random float weights shrink ~7%.
MIN_SAVING = 0.50
#: The sample: 16 KiB. 64 KiB cost 0.08 ms per array (256 KiB 0.3 ms: 12% of writing a
#: 16 MiB array to the page cache), and 0.44 s a step for MobileNetV2's 2989 op values;
#: on a conv net's 280 op values over 64 KiB (conv, depthwise, batch norm, ReLU6 outputs
#: and their gradients) 16, 8 and 4 KiB samples decided as 64 KiB did, every one
#: (docs/benchmarks.md). Zeros, masks and integers are told from noise as well.
SAMPLE_BYTES = 16 << 10
#: A value up to this size is compressed once, its frame deciding (no sample).
COMPRESS_ONCE_BYTES = 64 << 10
#: A smaller value is stored raw, untried: zstd could save it less than this, and trying
#: costs ~10 us a value (MobileNetV2: 1745 of its 2817 op values a step, 11 KB saved in all).
MIN_COMPRESS_BYTES = 4 << 10
ZSTD_LEVEL = 1
_ZSTD = numcodecs.Zstd(level=ZSTD_LEVEL)
#: Chunk keys are written "c.0.1": every chunk file sits in the array's directory, so
#: writing an array makes one directory, not one per chunk row (a mkdir costs as much
#: as writing 1-2 MB here). Traces written before used "/", which reads just as well.
SEPARATOR = "."
SEPARATORS = (".", "/")


@dataclass(frozen=True)
class Layout:
    """Where each chunk of an array lies in its flat C order."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    split: int  # the one axis that is cut into several chunks (or -1: one chunk in all)
    separator: str = SEPARATOR  # of the chunk keys: "c.0.1" or (older traces) "c/0/1"

    @property
    def chunk_elems(self) -> int:
        return math.prod(self.chunks)

    def ranges(self) -> Iterator[tuple[str, int, int]]:
        """``(chunk key, flat start, valid elements)`` for every chunk, in flat order."""
        shape, sep = self.shape, self.separator
        if not shape:
            yield "c", 0, 1
            return
        if math.prod(shape) == 0:
            return
        if self.split < 0:
            yield "c" + "".join(sep + "0" for _ in shape), 0, math.prod(shape)
            return
        s = self.split
        inner = math.prod(shape[s + 1:])
        step = self.chunks[s]
        tail = "".join(sep + "0" for _ in shape[s + 1:])
        for outer in np.ndindex(*shape[:s]):
            base = (int(np.ravel_multi_index(outer, shape[:s])) * shape[s]) if outer else 0
            head = "".join(f"{sep}{i}" for i in outer)
            for j, start in enumerate(range(0, shape[s], step)):
                rows = min(step, shape[s] - start)
                yield f"c{head}{sep}{j}{tail}", (base + start) * inner, rows * inner


def layout_of(shape: tuple[int, ...], chunks: tuple[int, ...], separator: str = SEPARATOR) -> Layout | None:
    """The layout, if the chunks are C-contiguous blocks; else None (read chunk by chunk)."""
    if len(shape) != len(chunks) or separator not in SEPARATORS:
        return None
    cut = [a for a, (c, n) in enumerate(zip(chunks, shape)) if c < n]
    if not cut:
        return Layout(shape, chunks, -1, separator)
    s = cut[-1]
    if any(chunks[a] != 1 for a in range(s)) or any(chunks[a] != shape[a] for a in range(s + 1, len(shape))):
        return None
    return Layout(shape, chunks, s, separator)


def array_metadata(shape: tuple[int, ...], dtype: np.dtype, chunks: tuple[int, ...],
                   compress: bool, attributes: dict[str, Any]) -> bytes:
    """The zarr v3 ``zarr.json`` of one array (zarr v3 core spec: regular grid, default keys)."""
    fill: Any = False if dtype.kind == "b" else [0.0, 0.0] if dtype.kind == "c" else 0.0 if dtype.kind == "f" else 0
    codecs: list[dict[str, Any]] = [{"name": "bytes", "configuration": {"endian": "little"}}
                                    if dtype.itemsize > 1 else {"name": "bytes"}]
    if compress:
        codecs.append({"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}})
    meta = {
        "zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": dtype.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": SEPARATOR}},
        "fill_value": fill, "codecs": codecs, "attributes": attributes,
        "storage_transformers": [],
    }
    return json.dumps(meta).encode()


def should_compress(flat: np.ndarray) -> bool:
    if flat.nbytes < MIN_COMPRESS_BYTES:
        return False
    sample = flat[: max(1, SAMPLE_BYTES // max(1, flat.itemsize))]
    raw = sample.nbytes
    return len(_ZSTD.encode(sample)) <= (1 - MIN_SAVING) * raw


def compress(flat: np.ndarray) -> bytes:
    """One zstd frame (``ZSTD_LEVEL``) of a flat array's bytes, its content size declared."""
    return bytes(_ZSTD.encode(flat))


def compressed_if_worth(flat: np.ndarray) -> bytes | None:
    """:func:`compress` of ``flat`` when :func:`should_compress` says so, else None. A value
    of at most ``COMPRESS_ONCE_BYTES`` is compressed once: its frame decides."""
    if flat.nbytes > COMPRESS_ONCE_BYTES:
        return compress(flat) if should_compress(flat) else None
    if flat.nbytes < MIN_COMPRESS_BYTES:
        return None
    frame = bytes(_ZSTD.encode(flat))
    return frame if len(frame) <= (1 - MIN_SAVING) * flat.nbytes else None


def write_chunks(directory: Path, layout: Layout, stored: np.ndarray, compress: bool) -> None:
    """Write every chunk file of ``stored`` (already in the layout's shape)."""
    flat = stored.reshape(-1)
    if sys.byteorder != "little":
        flat = flat.byteswap()
    made: set[Path] = {directory}
    for key, start, n in layout.ranges():
        part = flat[start:start + n]
        if n < layout.chunk_elems and layout.shape:  # zarr pads edge chunks to full size
            padded = np.zeros(layout.chunk_elems, dtype=flat.dtype)
            padded[:n] = part
            part = padded
        path = directory / key
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        data: Any = _ZSTD.encode(part) if compress else np.ascontiguousarray(part).data.cast("B")
        with open(path, "wb") as f:
            f.write(data)


def read_range(read_store: Any, prefix: str, meta: ArrayMeta, start: int, out: np.ndarray) -> None:
    """Fill the flat ``out`` with elements ``[start, start + out.size)`` of an array in the
    contiguous layout (``meta.contiguous`` is not None).

    Every chunk must be there: a missing chunk is corruption, never the fill value.
    """
    layout = meta.contiguous
    assert layout is not None
    stop = start + out.size
    expected = layout.chunk_elems if layout.shape else 1
    for key, c_start, n in layout.ranges():
        c_stop = c_start + n
        if c_stop <= start:
            continue
        if c_start >= stop:
            break
        lo, hi = max(start, c_start), min(stop, c_stop)
        target = out[lo - start:hi - start]
        if (not meta.codecs.compressed and lo == c_start and hi == c_stop and n == expected
                and sys.byteorder == "little"):
            # the common case: a whole raw chunk lands in the output without a copy
            if not read_store.read_into(f"{prefix}/{key}", target.data.cast("B")):
                raise TraceFormatError(_missing(key))
            continue
        values = read_chunk(read_store, prefix, meta, key)
        target[...] = values[lo - c_start:hi - c_start]


def read_chunk(read_store: Any, prefix: str, meta: ArrayMeta, key: str) -> np.ndarray:
    """One whole chunk as a flat array of ``meta.dtype``, decoded with a bounded output."""
    data = read_store.get(f"{prefix}/{key}", meta.max_stored_bytes())
    if data is None:
        raise TraceFormatError(_missing(key))
    nbytes = meta.chunk_bytes if meta.shape else meta.dtype.itemsize
    try:
        raw = codecs.decode(meta.codecs, data, nbytes)
    except TraceFormatError as exc:
        raise TraceFormatError(f"chunk {key} cannot be decoded: {exc}") from None
    return codecs.as_values(raw, meta.dtype, meta.codecs.endian)


def read_region(read_store: Any, prefix: str, meta: ArrayMeta, region: tuple[slice, ...],
                out: np.ndarray) -> None:
    """Fill ``out`` (shaped like ``region``) from any regular chunk grid, chunk by chunk.

    For layouts tftrace did not write; memory beyond ``out`` is one decoded chunk.
    """
    if not meta.shape:
        out[...] = read_chunk(read_store, prefix, meta, "c")[0]
        return
    bounds = [s.indices(n)[:2] for s, n in zip(region, meta.shape)]
    if any(lo >= hi for lo, hi in bounds):
        return
    ranges = [range(lo // c, (hi - 1) // c + 1) for (lo, hi), c in zip(bounds, meta.chunks)]
    for index in itertools.product(*ranges):
        chunk = read_chunk(read_store, prefix, meta, meta.chunk_key(index)).reshape(meta.chunks)
        src, dst = [], []
        for i, ((lo, hi), c) in enumerate(zip(bounds, meta.chunks)):
            c_lo = index[i] * c
            a, b = max(lo, c_lo), min(hi, c_lo + c)
            src.append(slice(a - c_lo, b - c_lo))
            dst.append(slice(a - lo, b - lo))
        out[tuple(dst)] = chunk[tuple(src)]


def _missing(key: str) -> str:
    return f"chunk {key} is missing (tftrace writes every chunk of an array)"
