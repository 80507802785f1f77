"""Metadata records as msgpack bytes, refused with a clear error when they cannot be
stored (text UTF-8 cannot encode, objects msgpack does not know, oversized records)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import msgpack
import numpy as np

from tftrace.errors import UsageError


def pack(record: Mapping[str, Any], what: str) -> bytes:
    try:
        return msgpack.packb(record, use_bin_type=True, default=_default)
    except UnicodeEncodeError as exc:
        raise UsageError(f"cannot store a {what}: it holds text UTF-8 cannot encode "
                         f"({exc.reason}: {exc.object[exc.start:exc.end]!r})") from None
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"cannot store a {what}: {exc}") from None


def plain(value: Any, limit: int, what: str) -> Any:
    """``value`` as the reader will see it (tuples become lists, numpy scalars numbers, ...)."""
    packed = pack(value, what)
    if len(packed) > limit:
        raise UsageError(f"cannot record {what} of {len(packed)} bytes; expected at most {limit}")
    return msgpack.unpackb(packed, raw=False, strict_map_key=False)


def _default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise UsageError(f"cannot store a {type(obj).__name__} in trace metadata; "
                     "expected str, int, float, bool, None, list or dict")
