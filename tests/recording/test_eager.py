"""Eager and tf.function capture: random ops, endpoints, variables and call indices."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tests.recording.recording_helpers import KERAS3, by_name, events
from tftrace.errors import UsageError
from tftrace.format.reader import open_trace


def test_tf_function_random_values_recorded_on_every_execution(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        @tf.function
        def noisy(x):
            noise = tf.random.normal(tf.shape(x))
            tftrace.endpoint("noisy", x + noise)
            return x + noise, noise

        outputs = []
        for _ in range(3):
            outputs.append(noisy(tf.zeros(4)))
            rec.next_step()
    trace = open_trace(tmp_path / "t.zarr")
    randoms = [e for e in trace.events if e.kind == "random_op"]
    ends = [e for e in trace.events if e.kind == "endpoint"]
    assert [e.step for e in randoms] == [0, 1, 2] and [e.step for e in ends] == [0, 1, 2]
    assert {e.attrs["mode"] for e in randoms} == {"function"}
    for r, e, (out, noise) in zip(randoms, ends, outputs):
        np.testing.assert_array_equal(trace.array(r), noise.numpy())
        np.testing.assert_array_equal(trace.array(e), out.numpy())


def test_tf_function_matches_eager_under_the_same_seeds(tmp_path):
    def body():
        return tf.random.uniform((3, 3)) * 3

    with tftrace.record(tmp_path / "e.zarr"):
        eager = body().numpy()
    with tftrace.record(tmp_path / "f.zarr"):
        func = tf.function(body)().numpy()
    np.testing.assert_array_equal(func, eager)


def test_eager_random_op_attrs(tmp_path):
    with tftrace.record(tmp_path / "t.zarr"):
        with tf.name_scope("block"):
            value = tf.random.shuffle(tf.range(10)).numpy()
    (event,) = events(tmp_path / "t.zarr", "random_op")
    assert event.attrs["op_type"] == "RandomShuffle"
    assert event.attrs["seed"] == [42, 0] and event.attrs["seed_index"] == 0
    assert event.attrs["mode"] == "eager" and event.attrs["name_scope"] == "block"
    assert event.attrs["call_site"].startswith(f"{__file__}:")
    np.testing.assert_array_equal(open_trace(tmp_path / "t.zarr").array(event), value)


def test_keras3_initializers_stateless_ops_are_recorded(tmp_path):
    with tftrace.record(tmp_path / "t.zarr"):
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
    ops = [e.attrs["op_type"] for e in events(tmp_path / "t.zarr", "random_op")]
    assert any(op.startswith("Stateless") for op in ops), ops
    variables = by_name(tmp_path / "t.zarr", "variable")
    kernel = next(v for name, v in variables.items() if "kernel" in name)
    np.testing.assert_array_equal(kernel[1], layer.kernel.numpy())


class BrokenScalingLayer(tf.keras.layers.Layer):
    """The migration guide's example: a new variable on every call."""

    def call(self, inputs):
        scale = tf.Variable(tf.ones([]), name="scale")
        return inputs * scale


class ScalingLayer(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


@pytest.mark.parametrize("layer_cls, expected", [
    pytest.param(BrokenScalingLayer, [0, 1, 2], id="broken"),
    pytest.param(ScalingLayer, [0], id="correct")])
def test_variable_call_index(tmp_path, layer_cls, expected):
    with tftrace.record(tmp_path / "t.zarr"):
        layer = layer_cls()
        for _ in range(3):
            layer(tf.ones(2))
    recorded = events(tmp_path / "t.zarr", "variable")
    assert [e.attrs["call_index"] for e in recorded] == expected
    assert [e.attrs["creation_index"] for e in recorded] == list(range(len(expected)))
    assert all(e.attrs["call_site"].startswith(f"{__file__}:") for e in recorded)


def test_variable_attrs_and_initial_values_eager(tmp_path):
    with tftrace.record(tmp_path / "t.zarr"):
        w = tf.Variable(tf.random.normal((2, 2)), name="w")
        initial = w.numpy()
        w.assign_add(tf.ones((2, 2)))  # later changes are not the initial value
        c = tf.Variable(3, trainable=False, name="count")
    variables = by_name(tmp_path / "t.zarr", "variable")
    np.testing.assert_array_equal(variables["w"][1], initial)
    assert variables["count"][0].attrs["trainable"] is False
    assert variables["count"][0].dtype == "int32" and int(variables["count"][1]) == c.numpy()


def test_endpoints_prefix_and_occurrences(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        rec.endpoints({"a": tf.constant([1, 2]), "b": np.float64(2.5)}, prefix="net/")
        rec.endpoint("s", "text")
        rec.endpoint("s", 7)
        with pytest.raises(UsageError, match="expected a tf.Tensor"):
            rec.endpoint("bad", object())
    recorded = events(tmp_path / "t.zarr", "endpoint")
    assert [(e.name, e.occurrence) for e in recorded] == [
        ("net/a", 0), ("net/b", 0), ("s", 0), ("s", 1)]
    assert recorded[2].dtype == "string"


def test_module_level_endpoint_is_a_noop_without_recorder(tmp_path):
    tftrace.endpoint("nothing", np.ones(2))  # must not raise
    with tftrace.record(tmp_path / "t.zarr"):
        tftrace.endpoint("x", np.ones(2))
    tftrace.endpoint("after", np.ones(2))
    assert [e.name for e in events(tmp_path / "t.zarr", "endpoint")] == ["x"]


def test_recorders_one_after_another_and_no_overlap(tmp_path):
    for name in ("a.zarr", "b.zarr"):
        with tftrace.record(tmp_path / name):
            value = tf.random.uniform((2,)).numpy()
        (event,) = events(tmp_path / name, "random_op")
        np.testing.assert_array_equal(open_trace(tmp_path / name).array(event), value)
    with tftrace.record(tmp_path / "c.zarr"):
        with pytest.raises(UsageError, match="already active"):
            with tftrace.record(tmp_path / "d.zarr"):
                pass
    assert open_trace(tmp_path / "c.zarr").complete
    # everything patched is restored
    from tensorflow.python.client import session
    from tensorflow.python.framework import random_seed
    assert not hasattr(session.BaseSession.run, "__wrapped__")
    assert random_seed.get_seed.__module__ == random_seed.__name__


def test_threads_recording_endpoints_concurrently_lose_no_event(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        def worker(index):
            for i in range(50):
                rec.endpoint(f"thread{index}", np.full(3, i))
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    recorded = events(tmp_path / "t.zarr", "endpoint")
    assert len(recorded) == 200
    for k in range(4):
        mine = [e for e in recorded if e.name == f"thread{k}"]
        assert [e.occurrence for e in mine] == list(range(50))
        assert [e.stats.max for e in mine] == list(range(50))


def test_trace_says_the_run_raised_when_the_block_raises(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with tftrace.record(tmp_path / "t.zarr") as rec:
            rec.endpoint("x", 1)
            1 / 0
    trace = open_trace(tmp_path / "t.zarr")
    assert not trace.complete and len(trace.events) == 1
    assert (trace.status.status, trace.status.exception_type, trace.status.message) == \
        ("raised", "ZeroDivisionError", "division by zero")
    assert trace.status.traceback.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "ZeroDivisionError" in trace.environment["error"]
    assert trace.environment["seed_mode"] == "num_random_ops"
    assert trace.environment["tensorflow_version"] == tf.__version__
    assert f'File "{__file__}"' in trace.status.traceback  # the user's line that raised


def test_variable_endpoint_in_tf_function_is_its_value_at_that_point_of_each_execution(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        v = tf.Variable([1.0, 2.0])
        # a Keras 3 variable stands for its tf.Variable (Keras 2 makes a tf.Variable)
        kv = (keras.Variable if KERAS3 else tf.Variable)(np.array([5.0, 6.0], np.float32))

        @tf.function
        def step():
            tftrace.endpoint("before", v)
            v.assign_add([1.0, 1.0])
            tftrace.endpoint("after", v)
            kv.assign(kv * 2.0)
            tftrace.endpoint("keras", kv)

        for _ in range(3):
            step()
            rec.next_step()
    trace = open_trace(tmp_path / "t.zarr")
    for name, expected in (("before", [[1, 2], [2, 3], [3, 4]]), ("after", [[2, 3], [3, 4], [4, 5]]),
                           ("keras", [[10, 12], [20, 24], [40, 48]])):
        recorded = [trace.array(e) for e in trace.select("endpoint", name)]
        np.testing.assert_array_equal(recorded, np.array(expected, np.float32), err_msg=name)


def test_eager_and_intermediate_endpoints_in_tf_function_are_recorded_on_every_execution(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        offset = tf.constant([1.0, 2.0])  # an eager tensor the function's closure captures
        v = tf.Variable([1.0, 1.0])

        @tf.function
        def step(x):
            tftrace.endpoint("offset", offset)
            doubled = x * 2.0
            tftrace.endpoint("doubled", doubled)
            tftrace.endpoint("scale", np.float32(3.0))
            v.assign_add(doubled)
            tftrace.endpoint("handle", v.handle)  # a variable's handle stands for the variable
            return doubled + offset

        for i in range(3):
            step(tf.constant([float(i), 1.0]))
            rec.next_step()
    trace = open_trace(tmp_path / "t.zarr")
    recorded = [(e.name, e.step) for e in trace.events if e.kind == "endpoint"]
    # one event per endpoint per execution, in program order (not once, at tracing)
    assert recorded == [(name, step) for step in range(3)
                        for name in ("offset", "doubled", "scale", "handle")]
    values = {name: [trace.array(e).tolist() for e in trace.select("endpoint", name)]
              for name in ("offset", "doubled", "scale", "handle")}
    assert values["offset"] == [[1.0, 2.0]] * 3
    assert values["doubled"] == [[0.0, 2.0], [2.0, 2.0], [4.0, 2.0]]
    assert values["scale"] == [3.0] * 3
    assert values["handle"] == [[1.0, 3.0], [3.0, 5.0], [7.0, 7.0]]  # 1 + running sum of doubled


def test_a_handle_of_no_recorded_variable_is_a_usage_error_and_recording_goes_on(tmp_path):
    outside = tf.Variable([9.0])  # created before the recording: tftrace never saw it
    with tftrace.record(tmp_path / "t.zarr") as rec:
        with pytest.raises(UsageError, match=r"endpoint 'h': expected a value, got a resource "
                                             r"handle .* give the variable itself"):
            rec.endpoint("h", outside.handle)
        rec.endpoint("after", outside)
    trace = open_trace(tmp_path / "t.zarr")
    assert trace.complete
    assert [(e.name, trace.array(e).tolist()) for e in trace.events] == [("after", [9.0])]
