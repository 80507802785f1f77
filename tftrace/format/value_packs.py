"""Packed values (format 6): the values of the captured kinds appended to one file per
log segment, instead of one zarr array (a directory and two files) per value.

A pack is ``packs/<n>/c.0``, the bytes of the values logged by segment ``n`` in the order
they came, each raw or one zstd frame (the sample rule of ``chunkio.should_compress``).
When the pack is closed, before segment ``n`` is written, its ``zarr.json`` describes it
as an ordinary zarr v3 array (1-D uint8, one chunk, codec ``bytes``): any zarr v3 reader
opens it, and a pack without one (a recording killed while filling it) is referenced by
no segment, so readers ignore it. An event refers to its value by the pack's key and a
:class:`~tftrace.format.schema.PackedValue` (offset, length, codec). docs/format.md,
"Packed values".
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from tftrace.errors import TraceFormatError
from tftrace.format import arrays, chunkio, codecs, limits, store
from tftrace.format.schema import Event, PackedValue, pack_key_for

#: The kinds whose values are packed: the captured streams, thousands of values a step.
PACKED_KINDS = frozenset({"op", "layer", "gradient", "optimizer"})
#: A larger value (stored bytes) gets its own chunked array as before: a packed value is
#: read whole (one zstd frame), and the reader decodes at most this much at once.
MAX_PACKED_BYTES = limits.MAX_CHUNK_BYTES
#: A pack holding this much is closed and its segment written, whatever the log's timer says.
PACK_BYTES = 256 << 20
CHUNK_KEY = "c.0"


def packable(kind: str, dtype: str, nbytes: int) -> bool:
    """Whether a value of ``kind`` goes to the pack: not a string (its stored size is not
    known from its shape), not empty, at most ``MAX_PACKED_BYTES``."""
    return kind in PACKED_KINDS and dtype != "string" and 0 < nbytes <= MAX_PACKED_BYTES


class PackWriter:
    """The open pack of a writer: values appended, closed before their segment is written.

    Thread-safe: values are appended as they arrive (``TraceWriter.stage``, from the threads
    that computed them) while the writer logs, rewinds and closes under its own lock.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key: str | None = None  # of the open pack
        self.size = 0  # bytes in the open pack
        self._file: IO[bytes] | None = None
        self._next = 0  # the lowest pack number not taken (a failed flush keeps its number)
        self._unlabelled: list[tuple[str, int]] = []  # closed packs whose zarr.json is not written yet
        self._lock = threading.Lock()
        self._sealed = False  # the trace is ending: no pack opens any more

    def append(self, index: int, stored: np.ndarray) -> tuple[str, PackedValue]:
        """Append one value's stored form (``arrays.encode``'s) to the pack of segment
        ``index`` (opened if none is, numbered ``index`` unless a pack already took it);
        its key and where its bytes lie."""
        frame, flat = encoded_bytes(stored)
        return self.append_bytes(index, frame if frame is not None else flat, frame is not None)

    def append_bytes(self, index: int, data: Any, compressed: bool) -> tuple[str, PackedValue]:
        """Append bytes already encoded (:func:`encoded_bytes`): a zstd frame when
        ``compressed``, else the raw stored bytes. Raises ``ValueError`` once sealed."""
        with self._lock:
            if self._sealed:
                raise ValueError("the trace is closing: no value is appended any more")
            if self._file is not None and self.size >= PACK_BYTES:  # values staged faster than logged
                self._file.close()  # labelled at the next close, before any segment
                self._file = None
                assert self.key is not None
                self._unlabelled.append((self.key, self.size))
            if self._file is None:
                index = max(index, self._next)
                self._next = index + 1
                self.key = pack_key_for(index)
                (self.directory / self.key).mkdir(parents=True)
                self._file = open(self.directory / self.key / CHUNK_KEY, "xb")
                self.size = 0
            offset = self.size
            try:
                self._file.write(data)
            except BaseException:  # a partial write (disk full): the pack ends where it did
                self._truncate(offset)
                raise
            self.size += len(data) if compressed else data.nbytes
            assert self.key is not None
            return self.key, PackedValue(offset, self.size - offset, "zstd" if compressed else "raw")

    def take_back(self, key: str, packed: PackedValue) -> None:
        """Drop a value whose record failed, if it is still the last in the open pack (a value
        appended after it stays, and these bytes with it: no event refers to them)."""
        with self._lock:
            if self._file is not None and key == self.key and packed.offset + packed.length == self.size:
                self._truncate(packed.offset)

    def seal(self) -> None:
        """Refuse every later append (the trace's last segment is being written)."""
        with self._lock:
            self._sealed = True

    def _truncate(self, size: int) -> None:
        assert self._file is not None
        self._file.truncate(size)
        self._file.seek(size)
        self.size = size

    def close(self) -> list[str]:
        """Close the open pack and write its ``zarr.json`` (and that of a pack whose write
        failed before: retried here); the keys of the packs now whole."""
        with self._lock:
            return self._close()

    def _close(self) -> list[str]:
        if self._file is not None:
            self._file.close()
            self._file = None
            key, self.key = self.key, None
            assert key is not None
            if self.size == 0:  # every value appended was taken back: no pack
                os.unlink(self.directory / key / CHUNK_KEY)
                os.rmdir(self.directory / key)
            else:
                self._unlabelled.append((key, self.size))
            self.size = 0
        done = []
        while self._unlabelled:  # an error leaves the rest for the next close
            key, size = self._unlabelled[0]
            store.write_atomic(self.directory / key / "zarr.json", chunkio.array_metadata(
                (size,), np.dtype(np.uint8), (size,), False, {"tftrace": {"pack": True}}))
            self._unlabelled.pop(0)
            done.append(key)
        return done


def encoded_bytes(stored: np.ndarray) -> tuple[bytes | None, np.ndarray]:
    """A value's bytes as a pack holds them: its zstd frame when the sample rule says so
    (else None), and its stored bytes, flat, little-endian and contiguous."""
    flat = stored.reshape(-1)
    if sys.byteorder != "little":
        flat = flat.byteswap()
    flat = np.ascontiguousarray(flat)
    return chunkio.compressed_if_worth(flat), flat


def pack_size(read_store: store.ReadStore, key: str) -> int:
    """The byte length of pack ``key``, from its ``zarr.json``, checked against its chunk file.

    Raises :class:`TraceFormatError` for a missing or malformed pack, or one whose chunk
    file does not hold what its metadata says (the message does not name the store).
    """
    raw = read_store.get(f"{key}/zarr.json", limits.MAX_META_BYTES)
    if raw is None:
        raise TraceFormatError(f"pack {key} is missing (no {key}/zarr.json)")
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TraceFormatError(f"pack {key} is unreadable: its zarr.json is not valid JSON") from None
    shape = meta.get("shape") if isinstance(meta, dict) else None
    grid = meta.get("chunk_grid") if isinstance(meta, dict) else None
    chunks = grid.get("configuration", {}).get("chunk_shape") if isinstance(grid, dict) \
        and isinstance(grid.get("configuration"), dict) else None
    if (not isinstance(meta, dict) or meta.get("zarr_format") != 3 or meta.get("node_type") != "array"
            or meta.get("data_type") != "uint8" or not isinstance(shape, list) or len(shape) != 1
            or type(shape[0]) is not int or not 0 < shape[0] <= limits.MAX_ARRAY_BYTES
            or chunks != shape or meta.get("codecs") != [{"name": "bytes"}]):
        raise TraceFormatError(f"pack {key} is unreadable: expected a zarr v3 1-D uint8 array in "
                               f"one chunk with the codec bytes only, got {raw[:120]!r}")
    size = read_store.size(f"{key}/{CHUNK_KEY}")
    if size != shape[0]:
        found = "no chunk file" if size is None else f"{size} bytes"
        raise TraceFormatError(f"pack {key} is corrupted: its zarr.json declares {shape[0]} bytes, "
                               f"{key}/{CHUNK_KEY} holds {found}")
    return int(shape[0])


class PackedReader:
    """Reads packed values of one trace, each pack's metadata checked once."""

    def __init__(self, read_store: store.ReadStore) -> None:
        self._store = read_store
        self._sizes: dict[str, int] = {}

    def stored_values(self, ev: Event) -> np.ndarray:
        """The stored (encoded) values of a packed event, flat, as ``arrays.encode`` made them."""
        packed, nbytes, dtype = self._check(ev)
        raw = bytearray(packed.length)
        self._read(ev, packed.offset, raw)
        if packed.codec == "zstd":
            raw = codecs.zstd_decompress(bytes(raw), nbytes)
        return codecs.as_values(raw, dtype, "little")

    def blocks(self, ev: Event, ranges: Iterator[tuple[int, int]]) -> Iterator[np.ndarray]:
        """Flat stored values ``[start, start + size)`` for each ``(start, size)``: raw values
        read range by range, a zstd frame decoded once."""
        packed, _, dtype = self._check(ev)
        whole = self.stored_values(ev) if packed.codec == "zstd" else None
        for start, size in ranges:
            if whole is not None:
                yield whole[start:start + size]
                continue
            raw = bytearray(size * dtype.itemsize)
            self._read(ev, packed.offset + start * dtype.itemsize, raw)
            yield codecs.as_values(raw, dtype, "little")

    def _check(self, ev: Event) -> tuple[PackedValue, int, np.dtype]:
        packed, key = ev.packed, str(ev.array_key)
        assert packed is not None and ev.dtype is not None and ev.shape is not None
        dtype = arrays.stored_dtype(ev.dtype)
        nbytes = math.prod(ev.shape) * dtype.itemsize
        if ev.dtype == "string" or nbytes > MAX_PACKED_BYTES:
            raise TraceFormatError(f"a packed {ev.dtype}{list(ev.shape)} value; expected a value of "
                                   f"at most {MAX_PACKED_BYTES} bytes, not a string")
        most = nbytes if packed.codec == "raw" else codecs.CodecChain("little", "zstd").max_stored_bytes(
            nbytes, limits.COMPRESSED_SLACK)
        if packed.length > most or (packed.codec == "raw" and packed.length != nbytes):
            raise TraceFormatError(f"its {packed.codec} bytes in {key} are {packed.length} bytes long; "
                                   f"expected {'' if packed.codec == 'raw' else 'at most '}{most} for "
                                   f"{ev.dtype}{list(ev.shape)}")
        if key not in self._sizes:
            self._sizes[key] = pack_size(self._store, key)
        if packed.offset + packed.length > self._sizes[key]:
            raise TraceFormatError(f"its bytes {packed.offset} to {packed.offset + packed.length} lie "
                                   f"outside pack {key} ({self._sizes[key]} bytes)")
        return packed, nbytes, dtype

    def _read(self, ev: Event, offset: int, out: bytearray) -> None:
        if out and not self._store.read_range(f"{ev.array_key}/{CHUNK_KEY}", offset, memoryview(out)):
            raise TraceFormatError(f"pack {ev.array_key} has no chunk file {CHUNK_KEY}")


def unclosed_packs(read_store: store.ReadStore) -> list[str]:
    """Packs a killed recording left without their ``zarr.json`` (no event refers to them)."""
    heads = {"/".join(key.split("/", 2)[:2]) for key in read_store.keys() if key.startswith("packs/")}
    return sorted(head for head in heads if read_store.size(f"{head}/zarr.json") is None)
