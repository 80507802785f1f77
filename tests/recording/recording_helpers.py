"""Shared helpers of the recording tests: read traces back with the reader."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np
import pytest

from tftrace.format.reader import open_trace


def _keras_major() -> int:
    try:
        return int(metadata.version("keras").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0


#: Keras 3 (TensorFlow 2.16 and later); TensorFlow 2.15 ships Keras 2 as ``keras``.
KERAS3 = _keras_major() >= 3
requires_keras3 = pytest.mark.skipif(not KERAS3, reason="needs Keras 3; TensorFlow 2.15 ships "
                                                        "Keras 2 as `keras`")


def events(path: Any, kind: str) -> list[Any]:
    return [e for e in open_trace(path).events if e.kind == kind]


def arrays(path: Any, kind: str) -> list[np.ndarray]:
    trace = open_trace(path)
    return [trace.array(e) for e in trace.events if e.kind == kind]


def by_name(path: Any, kind: str, strip: str = "") -> dict[str, tuple[Any, np.ndarray | None]]:
    """{name without ':0' and prefix: (event, array)} for one kind."""
    trace = open_trace(path)
    out = {}
    for e in trace.events:
        if e.kind == kind:
            name = e.name[:-2] if e.name.endswith(":0") else e.name
            name = name[len(strip):] if strip and name.startswith(strip) else name
            out[name] = (e, trace.array(e) if e.stored else None)
    return out
