"""The TF1 adapter: graph values come from the user's own Session runs, only when free."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tests.recording.recording_helpers import by_name, events
from tftrace.format.reader import open_trace


def test_endpoint_not_computed_by_a_run_is_not_evaluated_and_stateful_ops_are_untouched(tmp_path):
    def program(rec=None):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            a = tf.random.uniform((3,), seed=1)
            b = tf.random.uniform((3,), seed=2)
            if rec is not None:
                rec.endpoint("b", b)
            firsts = [sess.run(a) for _ in range(3)]
            return firsts, sess.run(b)  # b's first draw: it must not have run before

    expected_a, expected_b = program()
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off") as rec:
        got_a, got_b = program(rec)
    np.testing.assert_array_equal(got_a, expected_a)
    np.testing.assert_array_equal(got_b, expected_b)
    recorded = events(tmp_path / "t.zarr", "endpoint")
    assert len(recorded) == 1  # only the run that computed b
    np.testing.assert_array_equal(open_trace(tmp_path / "t.zarr").array(recorded[0]), got_b)


def test_endpoint_is_never_evaluated_by_the_initializer_run(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            v = tf.compat.v1.get_variable("v", (2,))
            y = v * 2.0
            rec.endpoint("y", y)
            sess.run(tf.compat.v1.global_variables_initializer())
            values = [sess.run(y)]
            rec.next_step()
            values.append(sess.run(y))
    recorded = events(tmp_path / "t.zarr", "endpoint")
    assert [e.step for e in recorded] == [0, 1]
    trace = open_trace(tmp_path / "t.zarr")
    for event, value in zip(recorded, values):
        np.testing.assert_array_equal(trace.array(event), value)


def test_random_op_recorded_per_run_with_that_runs_values(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            noise = tf.random.normal((4,))
            outputs = []
            for _ in range(3):
                outputs.append(sess.run(noise * 1.0))
                rec.next_step()
    recorded = events(tmp_path / "t.zarr", "random_op")
    assert [e.step for e in recorded] == [0, 1, 2]
    assert {e.attrs["mode"] for e in recorded} == {"graph"}
    trace = open_trace(tmp_path / "t.zarr")
    for event, value in zip(recorded, outputs):
        np.testing.assert_array_equal(trace.array(event), value)
    assert not np.array_equal(outputs[0], outputs[1])


def test_fed_tensor_is_not_recorded_and_its_producer_not_run(tmp_path):
    def program(rec=None):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            r = tf.random.uniform((2,), seed=5)
            y = r + 1.0
            if rec is not None:
                rec.endpoint("r", r)
            fed = sess.run(y, feed_dict={r: np.zeros(2, np.float32)})
            return fed, sess.run(r)

    expected = program()
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off") as rec:
        got = program(rec)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)
    assert len(events(tmp_path / "t.zarr", "endpoint")) == 1  # the second run only


def test_initial_value_of_a_restored_variable_is_the_checkpoint_value(tmp_path):
    saved = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        v = tf.compat.v1.get_variable("w", initializer=tf.constant(saved))
        sess.run(v.initializer)
        path = tf.compat.v1.train.Saver().save(sess, str(tmp_path / "ckpt"))
    with tftrace.record(tmp_path / "t.zarr"):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            tf.compat.v1.get_variable("w", (2, 3))
            tf.compat.v1.train.Saver().restore(sess, path)
    variables = by_name(tmp_path / "t.zarr", "variable")
    np.testing.assert_array_equal(variables["w"][1], saved)


def test_snapshot_reads_graph_variables_through_the_session(tmp_path):
    with tftrace.record(tmp_path / "t.zarr") as rec:
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            v = tf.compat.v1.get_variable("v", initializer=tf.constant([1.0, 2.0]))
            step = v.assign_add([1.0, 1.0])
            sess.run(tf.compat.v1.global_variables_initializer())
            for _ in range(2):
                sess.run(step)
                rec.next_step()
                rec.snapshot_variables()
    trace = open_trace(tmp_path / "t.zarr")
    snaps = [e for e in trace.events if e.kind == "snapshot"]
    assert [(e.name, e.step) for e in snaps] == [("v:0", 1), ("v:0", 2)]
    np.testing.assert_array_equal(trace.array(snaps[0]), [2.0, 3.0])
    np.testing.assert_array_equal(trace.array(snaps[1]), [3.0, 4.0])
    np.testing.assert_array_equal(trace.array("v:0", kind="variable"), [1.0, 2.0])


def test_one_recorder_around_two_graphs(tmp_path):
    with tftrace.record(tmp_path / "t.zarr"):
        for name in ("first", "second"):
            graph = tf.Graph()
            with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
                v = tf.compat.v1.get_variable(name, (2,))
                sess.run(v.initializer)
    variables = by_name(tmp_path / "t.zarr", "variable")
    assert sorted(variables) == ["first", "second"]
    seeds = [e.attrs["seed"] for e in events(tmp_path / "t.zarr", "random_op")]
    assert seeds == [[42, 0], [42, 1]]


@pytest.mark.parametrize("capture", [pytest.param("stats", id="stats"), pytest.param("full", id="full")])
def test_capture_stats_keeps_digests_but_no_arrays(tmp_path, capture):
    with tftrace.record(tmp_path / "t.zarr", capture=capture) as rec:
        rec.endpoint("x", np.arange(5.0))
    (event,) = events(tmp_path / "t.zarr", "endpoint")
    assert event.stored == (capture == "full")
    assert event.stats.max == 4.0 and event.digest


def test_endpoint_on_a_resource_variable_handle_records_the_variable(tmp_path):
    graph = tf.Graph()
    with tftrace.record(tmp_path / "t.zarr") as rec, graph.as_default():
        v = tf.compat.v1.get_variable("v", initializer=[1.0, 2.0], use_resource=True)
        increment = v.assign_add([1.0, 1.0])
        rec.endpoint("handle", v.handle)  # used to raise inside Session.run (dtype resource)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for _ in range(2):
                session.run(increment)
                assert session.run(v).dtype == np.float32  # this run reads the variable
                rec.next_step()
    trace = open_trace(tmp_path / "t.zarr")
    assert trace.complete
    recorded = [(e.step, trace.array(e).tolist()) for e in trace.select("endpoint", "handle")]
    assert recorded == [(0, [2.0, 3.0]), (1, [3.0, 4.0])]
