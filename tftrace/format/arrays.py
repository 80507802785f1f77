"""How one value becomes a stored array, and back: dtypes, statistics, digests, chunks.

Pure numpy (plus ml_dtypes for bfloat16); no TensorFlow, no zarr.
"""

from __future__ import annotations

import hashlib
import math
import sys
import threading
import zlib
from typing import Any, Iterator, Protocol

import ml_dtypes
import msgpack
import numpy as np

from tftrace.errors import TraceFormatError, UsageError
from tftrace.format.schema import DTYPES, Stats

#: Target size of one stored chunk. 4-16 MiB chunks measured fastest to write and read.
CHUNK_BYTES = 8 << 20

_NUMPY_OF = {
    "float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32), "float64": np.dtype(np.float64),
    "int8": np.dtype(np.int8), "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32), "int64": np.dtype(np.int64),
    "uint8": np.dtype(np.uint8), "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32), "uint64": np.dtype(np.uint64),
    "bool": np.dtype(np.bool_), "complex64": np.dtype(np.complex64),
    "complex128": np.dtype(np.complex128),
}
assert set(_NUMPY_OF) | {"string"} == set(DTYPES)

#: How each logical dtype is laid out in zarr: bfloat16 as its uint16 bit pattern,
#: strings as one msgpack list of bytes in a uint8 array; the rest natively.
ENCODING_NATIVE = "native"
ENCODING_BITS = "bits"
ENCODING_MSGPACK = "msgpack-bytes"


def logical_dtype(value: np.ndarray) -> str:
    """The trace's name for a numpy array's dtype ("float32", "bfloat16", "string", ...)."""
    dt = value.dtype
    if dt == _NUMPY_OF["bfloat16"]:
        return "bfloat16"
    if dt.kind in "OSU":
        return "string"
    for name, ndt in _NUMPY_OF.items():
        if dt == ndt:
            return name
    raise UsageError(
        f"cannot record an array of dtype {dt}; expected one of {', '.join(DTYPES)}"
    )


def as_array(value: Any) -> np.ndarray:
    """Turn a recorded value (numpy array or scalar, Python number, bytes, str) into an array."""
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (bytes, str)):
        arr = np.array(_to_bytes(value), dtype=object)
    else:
        arr = np.asarray(value)
    if arr.dtype.kind in "SU":
        arr = np.vectorize(_to_bytes, otypes=[object])(arr) if arr.size else arr.astype(object)
    if arr.dtype.kind == "O":
        flat = [_to_bytes(x) for x in arr.reshape(-1)]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        arr = out.reshape(arr.shape)
    return arr


def _to_bytes(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, np.bytes_):
        return bytes(x)
    raise UsageError(f"expected bytes or str in a string array, got {type(x).__name__}")


def encode(value: np.ndarray, dtype: str) -> tuple[np.ndarray, str]:
    """The array as zarr will store it, and the encoding name."""
    if dtype == "string":
        packed = msgpack.packb(list(value.reshape(-1)), use_bin_type=True)
        return np.frombuffer(packed, dtype=np.uint8), ENCODING_MSGPACK
    if dtype == "bfloat16":
        return np.require(value, requirements="C").view(np.uint16), ENCODING_BITS
    return np.require(value, requirements="C"), ENCODING_NATIVE


def decode(stored: np.ndarray, dtype: str, shape: tuple[int, ...], encoding: str) -> np.ndarray:
    """Inverse of :func:`encode`; validates what came off disk."""
    if encoding == ENCODING_MSGPACK:
        if dtype != "string":
            raise TraceFormatError(f"expected encoding {ENCODING_MSGPACK} only for strings, got dtype {dtype}")
        try:
            items = msgpack.unpackb(stored.tobytes(), raw=True, use_list=True,
                                    max_bin_len=stored.size, max_str_len=stored.size,
                                    max_array_len=stored.size + 1)
        except Exception as exc:  # msgpack raises several unrelated types
            raise TraceFormatError(f"string array is not valid msgpack: {exc}") from None
        if not isinstance(items, list) or len(items) != math.prod(shape):
            raise TraceFormatError(f"expected {math.prod(shape)} strings for shape {shape}")
        out = np.empty(len(items), dtype=object)
        out[:] = [bytes(x) if isinstance(x, (bytes, bytearray)) else _bad_string(x) for x in items]
        return out.reshape(shape)
    if encoding == ENCODING_BITS:
        if dtype != "bfloat16" or stored.dtype != np.uint16:
            raise TraceFormatError(f"expected uint16 bits for bfloat16, got {stored.dtype} for {dtype}")
        return stored.view(ml_dtypes.bfloat16)
    if encoding == ENCODING_NATIVE:
        expected = _NUMPY_OF.get(dtype)
        if expected is None or stored.dtype != expected:
            raise TraceFormatError(f"expected stored dtype {expected}, got {stored.dtype}")
        return stored
    raise TraceFormatError(f"expected an encoding in {(ENCODING_NATIVE, ENCODING_BITS, ENCODING_MSGPACK)}, got {encoding!r}")


def _bad_string(x: Any) -> bytes:
    raise TraceFormatError(f"expected bytes in a string array, got {type(x).__name__}")


def stored_dtype(dtype: str) -> np.dtype:
    """The zarr data type an array of this logical dtype is stored as (see :func:`encode`)."""
    return np.dtype(np.uint8) if dtype == "string" else np.dtype(np.uint16) if dtype == "bfloat16" \
        else _NUMPY_OF[dtype]


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype an array of this logical dtype reads back as."""
    return np.dtype(object) if dtype == "string" else _NUMPY_OF[dtype]


#: The content digest: a tree over fixed 4 MiB leaves of the stored bytes, so the leaves
#: hash on several cores at once (zlib and hashlib release the GIL). Each leaf gets a
#: CRC-32 (6 GB/s per core here, against 1.8 for sha256: docs/benchmarks.md), the root
#: is a sha256 over the dtype/shape prefix and the leaves' CRCs. The scheme name is part
#: of every digest string; digests are only ever compared within one scheme.
DIGEST_SCHEME = "crc32-tree-4MiB"
#: The tree with a sha256 per leaf, which tftrace wrote before the CRC tree.
SHA256_TREE_SCHEME = "sha256-tree-4MiB"
#: Digests written by tftrace before either tree: sha256 of the prefix and all stored bytes.
LEGACY_DIGEST_SCHEME = "sha256"
#: Schemes the writer can produce (the benchmark times both trees).
WRITABLE_DIGEST_SCHEMES = (DIGEST_SCHEME, SHA256_TREE_SCHEME)
#: Schemes under which equal digests alone prove equal bytes. A CRC tree can collide by
#: accident (2**-32 per differing leaf), so its equal digests count only with equal statistics.
CRYPTOGRAPHIC_DIGEST_SCHEMES = frozenset({SHA256_TREE_SCHEME, LEGACY_DIGEST_SCHEME})
DIGEST_LEAF_BYTES = 4 << 20
#: Statistics and hashing walk a leaf in blocks this large, each still in cache for the second pass.
_BLOCK_BYTES = 1 << 20
_FLOATS = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128")


class _Digested(Protocol):
    """What :func:`digests_prove_equal` reads of an event."""

    @property
    def digest(self) -> str | None: ...
    @property
    def stats(self) -> Stats | None: ...


def digest_scheme(digest: str | None) -> str | None:
    """The scheme named by a digest string ("crc32-tree-4MiB", "sha256", ...), or None."""
    if not isinstance(digest, str) or ":" not in digest:
        return None
    return digest.split(":", 1)[0]


def digests_equal(a: str | None, b: str | None) -> bool | None:
    """Whether two digests are equal or different; None when they cannot tell.

    Digests of different schemes (a trace written before the tree digest against one
    written after) say nothing about the values: compare the values instead. Different
    digests of one scheme prove different content; for equal ones see
    :func:`digests_prove_equal`.
    """
    scheme = digest_scheme(a)
    if scheme is None or scheme != digest_scheme(b):
        return None
    return a == b


def digests_prove_equal(a: _Digested, b: _Digested) -> bool:
    """Whether two events' values are equal bit for bit without reading them.

    True for equal digests of one cryptographic scheme, or of a CRC scheme when the
    statistics (size, min, max, mean, NaN and Inf counts) are equal too: an accidental
    CRC collision would also have to keep every statistic. False means "not proven"
    (compare the values), never "different".
    """
    if digests_equal(a.digest, b.digest) is not True:
        return False
    if digest_scheme(a.digest) in CRYPTOGRAPHIC_DIGEST_SCHEMES:
        return True
    return a.stats is not None and b.stats is not None and _same_stats(a.stats, b.stats)


def _same_stats(a: Stats, b: Stats) -> bool:
    # NaN equals NaN here (a mean can be NaN when +inf and -inf overflowed the sum)
    return all(x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
               for x, y in zip(a.to_dict().values(), b.to_dict().values()))


class Summary:
    """Statistics and content digest of one stored array, computed leaf by leaf.

    :meth:`work` processes the next unclaimed leaf until none is left; several threads
    may call it at once (each leaf is claimed once). :meth:`result` combines the leaves
    in order, so the outcome never depends on which thread did what.
    """

    def __init__(self, stored: np.ndarray, dtype: str, shape: tuple[int, ...],
                 scheme: str = DIGEST_SCHEME):
        if scheme not in WRITABLE_DIGEST_SCHEMES:
            raise UsageError(f"digest scheme must be one of {', '.join(WRITABLE_DIGEST_SCHEMES)}; "
                             f"got {scheme!r}")
        self.scheme = scheme
        self.dtype = dtype
        self.shape = shape
        self.size = math.prod(shape)
        flat = np.require(stored, requirements="C").reshape(-1)
        self._bytes = _little_endian(flat).view(np.uint8)  # what is hashed: the bytes on disk
        # the values as statistics see them: bfloat16 reinterpreted from its bits
        self._values: np.ndarray | None = None
        if dtype != "string" and self.size:
            self._values = flat.view(ml_dtypes.bfloat16) if dtype == "bfloat16" else flat
        count = -(-self._bytes.size // DIGEST_LEAF_BYTES)
        self._leaves: list[bytes | None] = [None] * count
        self._parts: list[_Partial | None] = [None] * count
        self._claim = iter(range(count))
        self._lock = threading.Lock()

    @property
    def leaf_count(self) -> int:
        return len(self._leaves)

    def work(self) -> None:
        """Hash and summarize leaves until every leaf is claimed."""
        while True:
            with self._lock:
                index = next(self._claim, None)
            if index is None:
                return
            self._leaf(index)

    def result(self) -> tuple[Stats, str]:
        """(statistics, digest); call once the threads running :meth:`work` have returned."""
        self.work()
        root = hashlib.sha256(_digest_prefix(self.dtype, self.shape))
        for leaf in self._leaves:
            assert leaf is not None, "result() called while a thread was still in work()"
            root.update(leaf)
        return self._stats(), f"{self.scheme}:{root.hexdigest()}"

    def _leaf(self, index: int) -> None:
        start = index * DIGEST_LEAF_BYTES
        stop = min(start + DIGEST_LEAF_BYTES, self._bytes.size)
        sha = hashlib.sha256() if self.scheme == SHA256_TREE_SCHEME else None
        crc = 0
        part = _Partial()
        values = self._values
        itemsize = values.itemsize if values is not None else 1
        for lo in range(start, stop, _BLOCK_BYTES):
            hi = min(lo + _BLOCK_BYTES, stop)
            if sha is None:
                crc = zlib.crc32(self._bytes[lo:hi].data, crc)
            else:
                sha.update(self._bytes[lo:hi].data)
            if values is not None:
                part.add(values[lo // itemsize:hi // itemsize], self.dtype)
        self._leaves[index] = crc.to_bytes(4, "big") if sha is None else sha.digest()
        self._parts[index] = part

    def _stats(self) -> Stats:
        if self.size == 0 or self.dtype == "string":
            return Stats(size=self.size)
        total = _Partial()
        for part in self._parts:
            assert part is not None
            total.merge(part)
        return total.stats(self.size)


class _Partial:
    """Statistics of a part of an array, to be merged in order."""

    __slots__ = ("lo", "hi", "total", "counted", "nan", "inf")

    def __init__(self) -> None:
        self.lo: float | None = None
        self.hi: float | None = None
        self.total = 0.0     # float64 sum of the values in the mean (NaN excluded)
        self.counted = 0
        self.nan = 0
        self.inf = 0

    def add(self, block: np.ndarray, dtype: str) -> None:
        if dtype == "bool":
            self._extend(float(block.min()), float(block.max()), float(np.count_nonzero(block)), block.size)
            return
        if dtype not in _FLOATS:
            self._extend(float(block.min()), float(block.max()), _sum64(block), block.size)
            return
        work = block.astype(np.float32) if dtype == "bfloat16" else block
        mag = np.abs(work) if dtype.startswith("complex") else work
        lo, hi = mag.min(), mag.max()
        if np.isfinite(lo) and np.isfinite(hi):  # the common case: no NaN and no Inf in the block
            self._extend(float(lo), float(hi), _sum64(mag), mag.size)
            return
        self.nan += int(np.count_nonzero(np.isnan(work)))
        self.inf += int(np.count_nonzero(np.isinf(work)))
        mag = mag[~np.isnan(mag)]
        if mag.size:
            self._extend(float(mag.min()), float(mag.max()), _sum64(mag), mag.size)

    def _extend(self, lo: float, hi: float, total: float, counted: int) -> None:
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        self.total += total  # Python floats overflow to inf quietly, as numpy's sum did
        self.counted += counted

    def merge(self, other: _Partial) -> None:
        self.nan += other.nan
        self.inf += other.inf
        if other.counted:
            assert other.lo is not None and other.hi is not None
            self._extend(other.lo, other.hi, other.total, other.counted)

    def stats(self, size: int) -> Stats:
        if not self.counted:  # every value is NaN
            return Stats(size=size, nan_count=self.nan, inf_count=self.inf)
        return Stats(size=size, min=self.lo, max=self.hi, mean=self.total / self.counted,
                     nan_count=self.nan, inf_count=self.inf)


_SCRATCH_ELEMS = 1 << 17
_scratch = threading.local()


def _sum64(values: np.ndarray) -> float:
    """The float64 sum of ``values`` (inf on overflow, as numpy's mean gave).

    Converting a slice into a float64 buffer that stays in cache, then summing, is
    about 1.6x faster than ``np.add.reduce(values, dtype=np.float64)``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if values.dtype == np.float64:
            return float(np.add.reduce(values))
        buffer = getattr(_scratch, "buffer", None)
        if buffer is None:
            buffer = _scratch.buffer = np.empty(_SCRATCH_ELEMS, dtype=np.float64)
        total = 0.0
        for start in range(0, values.size, _SCRATCH_ELEMS):
            part = values[start:start + _SCRATCH_ELEMS]
            into = buffer[:part.size]
            np.copyto(into, part, casting="unsafe")
            total += float(np.add.reduce(into))
        return total


def statistics(value: np.ndarray, dtype: str) -> Stats:
    """min, max, mean, NaN and Inf counts (NaN excluded from min/max/mean)."""
    stored, _ = encode(value, dtype)
    return Summary(stored, dtype, tuple(int(n) for n in value.shape)).result()[0]


def digest(stored: np.ndarray, dtype: str, shape: tuple[int, ...], scheme: str = DIGEST_SCHEME) -> str:
    """Content digest of the stored array (see :data:`DIGEST_SCHEME` and docs/format.md).

    Different digests prove different content; equal ones prove equal content as
    :func:`digests_prove_equal` says.
    """
    return Summary(stored, dtype, shape, scheme).result()[1]


def legacy_digest(stored: np.ndarray, dtype: str, shape: tuple[int, ...]) -> str:
    """The digest tftrace wrote before the trees: one sha256 over every byte."""
    h = hashlib.sha256(_digest_prefix(dtype, shape))
    h.update(_little_endian(np.require(stored, requirements="C").reshape(-1)).view(np.uint8).data)
    return f"{LEGACY_DIGEST_SCHEME}:{h.hexdigest()}"


def _digest_prefix(dtype: str, shape: tuple[int, ...]) -> bytes:
    return f"{dtype}:{','.join(map(str, shape))}:".encode()


_BIG_ENDIAN = sys.byteorder != "little"


def _little_endian(flat: np.ndarray) -> np.ndarray:
    return flat.byteswap() if _BIG_ENDIAN and flat.itemsize > 1 else flat


def chunk_shape(shape: tuple[int, ...], itemsize: int, target: int = CHUNK_BYTES) -> tuple[int, ...]:
    """Chunks that are C-contiguous blocks of about ``target`` bytes.

    The trailing dimensions are kept whole while they fit; the next one is split.
    Reading chunk by chunk is then a walk through the flat array in order.
    """
    if not shape:
        return ()
    chunks = [1] * len(shape)
    budget = max(1, target // max(1, itemsize))
    for axis in range(len(shape) - 1, -1, -1):
        n = max(1, shape[axis])
        if n <= budget:
            chunks[axis] = n
            budget //= n
        else:
            chunks[axis] = max(1, budget)
            break
    return tuple(chunks)


def iter_block_slices(shape: tuple[int, ...], itemsize: int, max_bytes: int) -> Iterator[tuple[int, tuple[slice | int, ...]]]:
    """Walk an array in C order as contiguous blocks of at most ``max_bytes`` (or one element).

    Yields ``(flat_start, index)``; ``array[index]`` flattened is the block. The same
    shape, itemsize and max_bytes always give the same blocks, so two traces' arrays
    can be compared block by block.
    """
    if not shape:
        yield 0, ()
        return
    if math.prod(shape) == 0:
        return
    block = chunk_shape(shape, itemsize, max_bytes)
    split = max((a for a, (b, n) in enumerate(zip(block, shape)) if b < n), default=None)
    if split is None:
        yield 0, tuple(slice(None) for _ in shape)
        return
    inner = math.prod(shape[split + 1:])
    for outer in np.ndindex(*shape[:split]):
        for start in range(0, shape[split], block[split]):
            stop = min(shape[split], start + block[split])
            flat = (int(np.ravel_multi_index(outer, shape[:split])) * shape[split] + start) * inner if outer else start * inner
            yield flat, tuple(outer) + (slice(start, stop),) + tuple(slice(None) for _ in shape[split + 1:])
