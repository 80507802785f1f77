"""A value as the writer stores it: its zarr array files (when kept), its statistics and
content digest, computed leaf by leaf beside the thread writing the chunks; or, for a
packed value, all of it done as the value arrives (:func:`stage_value`), its event
logged later."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tftrace.errors import UsageError
from tftrace.format import arrays, chunkio, digest, value_packs
from tftrace.format.schema import PackedValue, ValueSummary, array_key_for

#: Where a value may go instead of its own array: the writer's appending function (the
#: open pack's key and where the value lies) and the event's kind.
Pack = tuple[Callable[[np.ndarray], tuple[str, PackedValue]], str]

#: Threads that hash and summarize an array's leaves beside the one writing its chunks.
WORKERS = 2
#: Smaller values are summarized in the calling thread: a hand-off costs more than it saves.
INLINE_BYTES = 256 << 10


@dataclass(frozen=True, slots=True)
class StagedValue:
    """A value stored as it arrived, before its event is written (``TraceWriter.stage``):
    its statistics and digest computed, its bytes appended to the pack ``array_key``.

    ``owner``: the writer whose pack holds the bytes (no other writer may log it).
    """

    summary: ValueSummary  # shape, dtype, statistics
    digest: str
    array_key: str
    packed: PackedValue
    nbytes: int
    owner: object

    def fields_for(self, owner: object, keep: bool) -> dict[str, Any]:
        """The event's value fields as :func:`store_value` gives them, logged by ``owner``
        (:class:`UsageError` if it did not stage it); not ``keep``: no reference to the
        bytes (they stay in the pack, referred to by no event)."""
        if owner is not self.owner:
            raise UsageError("a value staged by another trace writer; expected one this writer "
                             "staged (TraceWriter.stage)")
        summary, kept = self.summary, keep
        return {"shape": summary.shape, "dtype": summary.dtype, "stats": summary.stats,
                "digest": self.digest, "array_key": self.array_key if kept else None,
                "packed": self.packed if kept else None}


def stage_value(value: Any, kind: str, digest_scheme: str,
                append: Callable[[Any, bool], tuple[str, PackedValue]], owner: object) -> StagedValue | None:
    """``value`` stored now, in the calling thread: summarized, hashed, compressed by the sample
    rule and appended (``append(bytes, compressed)``: the writer's open pack; a ``ValueError``
    once the trace is closing). None when it does not go to a pack (not an array, another
    kind, a string, empty or larger than ``value_packs.packable`` takes, the trace closing):
    the caller gives the value itself then. Values computed in parallel (by a function's
    observers) are stored in parallel: zstd, CRC-32C, numpy and file writes release the GIL.
    A staged value whose event is never written leaves its bytes in the pack, unreferenced.
    """
    if not isinstance(value, np.ndarray):
        return None
    dtype = arrays.logical_dtype(value)
    stored, _ = arrays.encode(value, dtype)
    if not value_packs.packable(kind, dtype, stored.nbytes):
        return None
    shape = tuple(int(n) for n in value.shape)
    stats, dg = digest.summarize(stored, dtype, shape, digest_scheme)
    frame, flat = value_packs.encoded_bytes(stored)
    try:
        key, packed = append(frame if frame is not None else flat, frame is not None)
    except ValueError:  # the trace is closing
        return None
    return StagedValue(ValueSummary(shape, dtype, stats), dg, key, packed, value.nbytes, owner)


def store_value(directory: Path, seq: int, value: np.ndarray, keep: bool, digest_scheme: str,
                workers: ThreadPoolExecutor, pack: Pack | None = None) -> dict[str, Any]:
    """The event fields of event ``seq``'s ``value`` (shape, dtype, stats, digest, the
    digest's ``crc`` leaves, ``array_key``, ``packed``), if ``keep`` appended to ``pack`` (when
    given and ``value_packs.packable``) or written as its array under ``directory``."""
    dtype = arrays.logical_dtype(value)
    shape = tuple(int(n) for n in value.shape)
    stored, encoding = arrays.encode(value, dtype)
    # Digest and statistics go leaf by leaf in the worker threads (zlib, hashlib and numpy
    # release the GIL) while this thread writes the chunks, then helps with the rest.
    summary = digest.Summary(stored, dtype, shape, digest_scheme)
    spare = summary.leaf_count - (0 if keep else 1)  # leaves for helpers
    helpers = [workers.submit(summary.work)
               for _ in range(min(WORKERS, spare) if stored.nbytes >= INLINE_BYTES else 0)]
    try:
        fields: dict[str, Any] = {"shape": shape, "dtype": dtype, "array_key": None}
        if keep and pack is not None and value_packs.packable(pack[1], dtype, stored.nbytes):
            fields["array_key"], fields["packed"] = pack[0](stored)
        elif keep:
            key = array_key_for(seq)
            write_array(directory / key, stored, dtype, shape, encoding)
            fields["array_key"] = key
        summary.work()
    finally:
        for helper in helpers:
            helper.result()
    fields["stats"], fields["digest"], fields["crc"] = (*summary.result(), summary.crc_leaves)
    return fields


def write_array(directory: Path, stored: np.ndarray, dtype: str, shape: tuple[int, ...],
                encoding: str) -> None:
    """A zarr v3 array of ``stored`` (its encoded form) at ``directory``, a new folder."""
    chunks = arrays.chunk_shape(stored.shape, stored.dtype.itemsize)
    compress = chunkio.should_compress(stored.reshape(-1))
    # Metadata and chunks go straight from memory to files (zarr-python reads them).
    directory.mkdir(parents=True)
    (directory / "zarr.json").write_bytes(chunkio.array_metadata(
        stored.shape, stored.dtype, chunks, compress,
        {"tftrace": {"dtype": dtype, "shape": list(shape), "encoding": encoding}}))
    layout = chunkio.layout_of(stored.shape, chunks, chunkio.SEPARATOR)
    assert layout is not None
    chunkio.write_chunks(directory, layout, stored, compress)
