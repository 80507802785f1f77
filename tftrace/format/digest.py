"""The content digest and the statistics of a stored array, computed in one pass.

Both are written with every event that carries a value (docs/format.md, "Content
digest"), so ``diff`` can skip equal arrays and ``--capture stats`` traces can still
be compared. They are computed leaf by leaf (4 MiB pieces of the stored bytes) in the
writer's threads while its caller writes the chunks: every step here releases the GIL
(the CRC-32C runs in Google's crc32c library, called without a copy; numpy's
reductions run on whole blocks).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import hashlib
import itertools
import math
import os
import sys
import threading
import zlib
from typing import Callable, Iterator, Protocol

import ml_dtypes
import numpy as np

from tftrace.errors import UsageError
from tftrace.format.schema import Stats

#: The content digest: a tree over fixed 4 MiB leaves of the stored bytes, so the leaves
#: hash on several cores at once. Each leaf gets a CRC-32C (Castagnoli; the CPU's crc32
#: instruction, 15+ GB/s per core, against zlib's CRC-32 at 6 and sha256 at 1.8:
#: docs/benchmarks.md); the root is a sha256 over the dtype/shape prefix and the leaves'
#: CRCs. The scheme name is part of every digest string; digests are only ever compared
#: within one scheme. Format version 2 writes this scheme.
DIGEST_SCHEME = "crc32c-tree-4MiB"
#: The same tree with zlib's CRC-32 per leaf, which format version 1 wrote last.
CRC32_TREE_SCHEME = "crc32-tree-4MiB"
#: The tree with a sha256 per leaf, which tftrace wrote before the CRC trees.
SHA256_TREE_SCHEME = "sha256-tree-4MiB"
#: Digests written by tftrace before any tree: sha256 of the prefix and all stored bytes.
LEGACY_DIGEST_SCHEME = "sha256"
#: Schemes the writer can produce (the benchmark times them side by side).
WRITABLE_DIGEST_SCHEMES = (DIGEST_SCHEME, CRC32_TREE_SCHEME, SHA256_TREE_SCHEME)
#: Schemes under which equal digests alone prove equal bytes. A CRC tree can collide by
#: accident (2**-32 per differing leaf), so its equal digests count only with equal statistics.
CRYPTOGRAPHIC_DIGEST_SCHEMES = frozenset({SHA256_TREE_SCHEME, LEGACY_DIGEST_SCHEME})
DIGEST_LEAF_BYTES = 4 << 20
#: Statistics and hashing walk a leaf in blocks this large, each still in cache for the second pass.
_BLOCK_BYTES = 1 << 20
_FLOATS = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128")


def _zlib_crc32(block: np.ndarray, crc: int) -> int:
    return zlib.crc32(block.data, crc)


def _load_crc32c() -> Callable[[np.ndarray, int], int]:
    """CRC-32C of a contiguous uint8 array, continuing ``crc``.

    google-crc32c's own Python functions take only ``bytes`` (a copy of every block)
    and keep the GIL for anything but bytes; its wheel ships Google's crc32c library,
    whose C function ``crc32c_extend`` is called here on the array's memory directly
    (ctypes releases the GIL for the call). Without that library (google-crc32c built
    against a system one, or its pure-Python fallback) the Python function is used.
    The wheel's own copy is tried first: ``ctypes.util.find_library`` runs ``ldconfig``
    and ``gcc`` (50-60 ms, measured), so it is asked only when the wheel has none.
    """
    import google_crc32c

    here = os.path.dirname(google_crc32c.__file__)
    bundled = glob.glob(os.path.join(here, "..", "google_crc32c.libs", "libcrc32c*"))
    for candidate in itertools.chain(bundled, _system_crc32c()):
        try:
            extend = ctypes.CDLL(candidate).crc32c_extend
        except (OSError, AttributeError):
            continue
        extend.restype = ctypes.c_uint32
        extend.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]

        def direct(block: np.ndarray, crc: int) -> int:
            return int(extend(crc, block.ctypes.data, block.nbytes))
        return direct

    def copied(block: np.ndarray, crc: int) -> int:
        return int(google_crc32c.extend(crc, block.tobytes()))
    return copied


def _system_crc32c() -> Iterator[str]:
    name = ctypes.util.find_library("crc32c")
    if name:
        yield name


def crc32c(block: np.ndarray, crc: int = 0) -> int:
    """CRC-32C (Castagnoli, as iSCSI and google-crc32c) of a contiguous uint8 array."""
    global _crc32c_impl
    if _crc32c_impl is None:
        with _crc32c_loading:  # the writer's threads start together: load once
            if _crc32c_impl is None:
                _crc32c_impl = _load_crc32c()
    return _crc32c_impl(block, crc)


_crc32c_impl: Callable[[np.ndarray, int], int] | None = None
_crc32c_loading = threading.Lock()


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

    @property
    def crc_leaves(self) -> bytes | None:
        """The CRC-32C of each piece, 4 bytes each (the compact log stores them in place of
        the digest: :func:`crc_tree_digest`); None for another scheme. After :meth:`result`."""
        if self.scheme != DIGEST_SCHEME:
            return None
        return b"".join(leaf for leaf in self._leaves if leaf is not None)

    def _leaf(self, index: int) -> None:
        start = index * DIGEST_LEAF_BYTES
        stop = min(start + DIGEST_LEAF_BYTES, self._bytes.size)
        sha = hashlib.sha256() if self.scheme == SHA256_TREE_SCHEME else None
        crc_of = crc32c if self.scheme == DIGEST_SCHEME else _zlib_crc32
        crc = 0
        part = _Partial()
        values = self._values
        itemsize = values.itemsize if values is not None else 1
        for lo in range(start, stop, _BLOCK_BYTES):
            hi = min(lo + _BLOCK_BYTES, stop)
            if sha is None:
                crc = crc_of(self._bytes[lo:hi], crc)
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
        lo, hi = float(mag.min()), float(mag.max())
        if math.isfinite(lo) and math.isfinite(hi):  # the common case: no NaN and no Inf in the block
            self._extend(lo, hi, _block_sum(mag, max(hi, -lo)), mag.size)
            return
        self.nan += int(np.count_nonzero(np.isnan(work)))
        self.inf += int(np.count_nonzero(np.isinf(work)))
        mag = mag[~np.isnan(mag)]
        if mag.size:
            self._extend(float(mag.min()), float(mag.max()), _block_sum(mag), mag.size)

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
_FLOAT32_HALF_MAX = float(np.finfo(np.float32).max) / 2
_scratch = threading.local()


def _block_sum(values: np.ndarray, bound: float = math.inf) -> float:
    """The sum of one block (at most 1 MiB) of float values, for the mean; ``bound``: the
    largest magnitude among them, if known.

    float32 blocks (and bfloat16 and complex64 magnitudes, computed in float32) are summed
    in float32 by numpy's pairwise summation, 2.5x cheaper than converting to float64: its
    error is about 1e-8 of the block's mean magnitude (measured on normal, offset,
    uniform and log-normal data), far below a float32 element's own 6e-8. A float32 sum
    that overflows is redone in float64. The blocks are added in float64.
    """
    if values.dtype == np.float32 and bound * values.size < _FLOAT32_HALF_MAX:
        return float(np.add.reduce(values))  # no partial sum can overflow: no errstate (2 us)
    if values.dtype == np.float32:
        with np.errstate(over="ignore"):
            total = np.add.reduce(values)
        if np.isfinite(total):
            return float(total)
    return _sum64(values)


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


def summarize(stored: np.ndarray, dtype: str, shape: tuple[int, ...],
              scheme: str = DIGEST_SCHEME) -> tuple[Stats, str]:
    """``Summary(stored, dtype, shape, scheme).result()``, in the calling thread. A value of one
    block (MobileNetV2: 2680 of its 2817 op values a step) skips the hand-out of leaves to
    threads, which cost it more than its hashing and statistics did (~25 us of ~40)."""
    flat = np.require(stored, requirements="C").reshape(-1)
    if flat.nbytes > _BLOCK_BYTES or not flat.size or dtype == "string" or scheme != DIGEST_SCHEME:
        return Summary(stored, dtype, shape, scheme).result()
    part = _Partial()
    part.add(flat.view(ml_dtypes.bfloat16) if dtype == "bfloat16" else flat, dtype)
    root = hashlib.sha256(_digest_prefix(dtype, shape))
    root.update(crc32c(_little_endian(flat).view(np.uint8)).to_bytes(4, "big"))
    return part.stats(math.prod(shape)), f"{DIGEST_SCHEME}:{root.hexdigest()}"


def digest(stored: np.ndarray, dtype: str, shape: tuple[int, ...], scheme: str = DIGEST_SCHEME) -> str:
    """Content digest of the stored array (see :data:`DIGEST_SCHEME` and docs/format.md).

    Different digests prove different content; equal ones prove equal content as
    :func:`digests_prove_equal` says.
    """
    return Summary(stored, dtype, shape, scheme).result()[1]


def crc_tree_digest(dtype: str, shape: tuple[int, ...], leaves: bytes) -> str:
    """The ``crc32c-tree-4MiB`` digest of an array from its pieces' CRCs (``Summary.crc_leaves``)."""
    root = hashlib.sha256(_digest_prefix(dtype, shape))
    root.update(leaves)
    return f"{DIGEST_SCHEME}:{root.hexdigest()}"


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


