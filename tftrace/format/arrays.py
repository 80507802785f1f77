"""How one value becomes a stored array, and back: dtypes, encodings, chunks.

Pure numpy (plus ml_dtypes for bfloat16); no TensorFlow, no zarr. The content digest
and statistics are in :mod:`tftrace.format.digest`.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import ml_dtypes
import msgpack
import numpy as np

from tftrace.errors import TraceFormatError, UsageError
from tftrace.format import digest
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


def statistics(value: np.ndarray, dtype: str) -> Stats:
    """min, max, mean, NaN and Inf counts (NaN excluded from min/max/mean)."""
    stored, _ = encode(value, dtype)
    return digest.Summary(stored, dtype, tuple(int(n) for n in value.shape)).result()[0]


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
