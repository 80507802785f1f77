"""Op values of a ``tf.function`` at ``ops=full`` are stored as they arrive, in the
observers' threads (recording/independent.py, ``TraceWriter.stage``), and logged at the end
of the execution in program order. The values read back must be what the program computed
(numpy's, step by step: a value computed from a buffer TensorFlow had reused would not be),
and the trace what the path that copies each value and stores it at the end writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import tftrace
from tftrace.format import writer as writer_module
from tftrace.format.reader import open_trace

W = np.linspace(-1.0, 1.0, 64 * 48, dtype=np.float32).reshape(64, 48)
INPUTS = [np.random.default_rng(k).standard_normal((32, 64)).astype(np.float32) for k in range(3)]


def record(path: Path, scale: float = 1.0) -> None:
    w = tf.Variable(W, name="w")

    @tf.function
    def f(x: Any) -> Any:
        h = tf.matmul(x, w)          # 6 KiB: compressed or not by the sample rule
        r = tf.nn.relu(h)            # half zeros: raw (shrinks by less than half)
        s = tf.math.square(r) + 1.0  # buffers TensorFlow may forward in place
        return tf.reduce_sum(s, axis=1) * 0.5

    with tftrace.record(path, seed_mode="off", layers="off", ops="full", gradients="off",
                        optimizer="off") as rec:
        for x in INPUTS:
            f(tf.constant(x * scale))
            rec.next_step()


def expected(step: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    h = (INPUTS[step] * scale) @ W
    r = np.maximum(h, 0)
    s = r * r + 1.0
    return {"MatMul:0": h, "Relu:0": r, "Square:0": r * r, "add:0": s, "Sum:0": s.sum(axis=1),
            "mul:0": s.sum(axis=1) * 0.5}


def values(path: Path) -> list[tuple[str, int, np.ndarray]]:
    trace = open_trace(path)
    return [(e.name, e.step, trace.array(e)) for e in trace.events if e.kind == "op"]


def digests(path: Path) -> list[tuple[Any, ...]]:
    return [(e.name, e.step, e.digest, e.stats, e.attrs["inputs"]) for e in open_trace(path).events
            if e.kind == "op"]


def test_values_stored_as_they_arrive_are_the_values_computed(tmp_path: Path, monkeypatch: Any) -> None:
    staged = []
    stage = writer_module.TraceWriter.stage
    monkeypatch.setattr(writer_module.TraceWriter, "stage",
                        lambda self, kind, value: staged.append(kind) or stage(self, kind, value))
    record(tmp_path / "t.zarr")
    got = values(tmp_path / "t.zarr")
    # the observer-effect check may leave out an output Grappler fuses (the Relu into the MatMul)
    names = [name for name, step, _ in got if step == 0]
    assert {"MatMul:0", "Square:0", "add:0", "mul:0"} <= set(names), names
    assert len(got) == 3 * len(names) and staged == ["op"] * len(got)
    for name, step, value in got:
        np.testing.assert_allclose(value, expected(step)[name], rtol=2e-6, atol=1e-5, err_msg=name)
    assert all(e.packed is not None for e in open_trace(tmp_path / "t.zarr").events if e.kind == "op")
    # The same run with every value copied and stored at the end (nothing staged): the same
    # digests, statistics and dataflow.
    with monkeypatch.context() as patch:
        patch.setattr(writer_module.TraceWriter, "stage", lambda self, kind, value: None)
        record(tmp_path / "copied.zarr")
    assert digests(tmp_path / "t.zarr") == digests(tmp_path / "copied.zarr")
    # Negative control: another input is seen, in the values and in the digests.
    record(tmp_path / "other.zarr", scale=1.5)
    assert digests(tmp_path / "other.zarr") != digests(tmp_path / "t.zarr")
    assert not np.allclose(values(tmp_path / "other.zarr")[0][2], expected(0)["MatMul:0"])
