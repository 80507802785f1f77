"""Build small traces with the writer (no TensorFlow) for the diff, check and report tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tftrace.format.writer import TraceWriter


def ev(kind: str, name: str, value: Any = None, *, step: int = 0, **attrs: Any) -> dict[str, Any]:
    """One event to write: kind, name, value, step and attrs (call_site defaults to 'model.py:<n>')."""
    return {"kind": kind, "name": name, "value": value, "step": step, "attrs": attrs}


def var(name: str, value: Any, trainable: bool = True, **attrs: Any) -> dict[str, Any]:
    return ev("variable", name, np.asarray(value), trainable=trainable, **attrs)


def rnd(op_type: str, shape: tuple[int, ...], seed: int = 0, *, step: int = 0,
        value: Any = None, **attrs: Any) -> dict[str, Any]:
    """A random op whose values are derived from ``seed`` (so equal seeds give equal values)."""
    if value is None:
        value = np.random.default_rng(seed).random(shape, dtype=np.float32)
    return ev("random_op", f"{op_type}_{seed}", value, step=step, op_type=op_type, seed=[42, seed], **attrs)


def write_trace(path: Path, events: list[dict[str, Any]], *, complete: bool = True,
                capture: str = "full", environment: dict[str, Any] | None = None) -> Path:
    writer = TraceWriter.create(path, environment=environment or {"host": "test"}, capture=capture)
    for n, spec in enumerate(events):
        attrs = {"call_site": f"model.py:{10 + n}", **spec["attrs"]}
        writer.add_event(spec["kind"], spec["name"], step=spec["step"], value=spec["value"],
                         attrs=attrs)
    writer.close(complete=complete)
    return path


def weights(seed: int = 0) -> list[dict[str, Any]]:
    """A small dense net: kernel, bias, then an endpoint."""
    rng = np.random.default_rng(seed)
    kernel = rng.standard_normal((4, 3)).astype(np.float32)
    return [var("dense/kernel:0", kernel), var("dense/bias:0", np.zeros(3, np.float32)),
            ev("endpoint", "logits", rng.standard_normal((2, 3)).astype(np.float32))]
