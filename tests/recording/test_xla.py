"""XLA-compiled functions (jit_compile=True) never break and never change results under
recording; what crosses their boundary is recorded, what is inside is listed as not captured."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf

import tftrace
from tests.recording.recording_helpers import requires_keras3
from tftrace.format.reader import open_trace


def keras_fit(path=None) -> list[float]:
    keras.backend.clear_session()  # the same layer names whatever ran before in this process
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4), dtype=np.float32), rng.random((32, 1), dtype=np.float32)
    recording = tftrace.record(path, seed_mode="off") if path else contextlib.nullcontext()
    with recording:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                                  keras.layers.Dropout(0.3), keras.layers.Dense(1, name="out")],
                                 name="net")
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    return history.history["loss"]


@requires_keras3
def test_keras3_jit_compiled_fit_records_and_computes_the_same(tmp_path):
    recorded = keras_fit(tmp_path / "t.zarr")
    assert recorded == keras_fit()  # bit for bit, as without tftrace
    trace = open_trace(tmp_path / "t.zarr")
    assert trace.status.status == "completed"
    compiled = {f["name"]: f for f in trace.environment["compiled_functions"]}
    assert compiled["one_step_on_data"]["random_ops_not_observed"] >= 1
    gaps = [(g["kind"], g["reason"], g["function"]) for g in trace.environment["not_captured"]]
    assert ("random_op", "xla", "one_step_on_data") in gaps
    names = {e.name for e in trace.events if e.kind == "variable"}
    assert {"net/hidden/kernel", "net/out/bias"} <= names


def body(x):
    y = tf.nn.relu(x) * 2.0 + tf.random.stateless_uniform(tf.shape(x), seed=(1, 2))
    tftrace.endpoint("inside", y)  # cannot be observed in XLA: listed, not a crash
    return y


def test_jit_compiled_function_keeps_its_results_and_records_its_boundary(tmp_path):
    x = tf.constant([-1.0, 0.5, 2.0])
    expected = tf.function(body, jit_compile=True)(x).numpy()
    with tftrace.record(tmp_path / "t.zarr") as rec:
        f = tf.function(body, jit_compile=True)
        out = f(x)
        rec.endpoint("outside", out)  # the value crossing the compiled function's boundary
    np.testing.assert_array_equal(out.numpy(), expected)
    trace = open_trace(tmp_path / "t.zarr")
    assert [e.name for e in trace.events] == ["outside"]
    np.testing.assert_array_equal(trace.array("outside"), expected)
    gaps = {(g["kind"], g["name"], g["reason"], g["function"]) for g in trace.environment["not_captured"]}
    assert ("endpoint", "inside", "xla", "body") in gaps
    assert any(kind == "random_op" and reason == "xla" for kind, _, reason, _ in gaps)
    assert trace.environment["compiled_functions"] == [
        {"name": "body", "endpoints_not_observed": 1, "random_ops_not_observed": 1}]
    # The same function without XLA is observed inside (negative control).
    with tftrace.record(tmp_path / "plain.zarr"):
        tf.function(body)(x)
    plain = open_trace(tmp_path / "plain.zarr")
    assert [e.name for e in plain.events if e.kind == "endpoint"] == ["inside"]
    assert "compiled_functions" not in plain.environment or not plain.environment["compiled_functions"]
