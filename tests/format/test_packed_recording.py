"""A real ``tf.function`` recorded at ``ops="full"``: its op outputs go to packs and read back
as the same ops compute them eagerly; a changed input row changes exactly that row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

import tftrace


@tf.function
def _step(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    y = tf.matmul(x, w, name="mm")
    z = tf.nn.relu(y, name="act")
    return tf.reduce_sum(z * z, name="total")


def _eager(x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    y = tf.matmul(x, w).numpy()
    z = tf.nn.relu(y).numpy()
    return {"MatMul": y, "Mul": (z * z), "Sum": tf.reduce_sum(z * z).numpy()}


def test_ops_full_values_read_back_from_packs_as_computed_eagerly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    changed = x.copy()
    changed[0] += 1.0  # the negative control: row 0 of the input
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off", ops="full", layers="off",
                        gradients="off", optimizer="off") as rec:
        _step(tf.constant(x), tf.constant(w))
        rec.next_step()
        _step(tf.constant(changed), tf.constant(w))
    with tftrace.open(tmp_path / "t.zarr") as trace:
        ops = {(ev.step, ev.attrs.op_type): ev for ev in trace.events if ev.kind == "op"}
        assert {op for _, op in ops} == {"MatMul", "Mul", "Sum"}
        assert all(ev.packed is not None and ev.array_key.startswith("packs/") for ev in ops.values())
        for step, inputs in ((0, x), (1, changed)):
            for op, expected in _eager(inputs, w).items():
                np.testing.assert_allclose(trace.array(ops[step, op]), expected, rtol=1e-6, atol=0)
        # a changed row 0 changes row 0 of the matmul and of the product, and the sum; nothing else
        for op in ("MatMul", "Mul"):
            before, after = trace.array(ops[0, op]), trace.array(ops[1, op])
            np.testing.assert_array_equal(before[1:], after[1:])
            assert (before[0] != after[0]).any()
            assert ops[0, op].digest != ops[1, op].digest
        assert trace.array(ops[0, "Sum"]) != trace.array(ops[1, "Sum"])
