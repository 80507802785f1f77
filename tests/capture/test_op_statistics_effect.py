"""Op statistics in a ``tf.function`` never change the program's numbers.

At ``ops=stats`` every op output gets statistics ops of its own (summaries.py). The
observer-effect check optimizes the function with those ops, not with a stand-in
consumer, and leaves out the observations that would change it. And the runtime stops
Grappler at a deadline (5 minutes by default) where the offline check has none: a graph
that its observations make too slow to optimize is not observed at all. The deadline
itself changes results, which is why (the first test: TensorFlow's own behaviour).
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
import tensorflow as tf  # noqa: E402

import tftrace  # noqa: E402
from tests.capture.test_neutral_capture import differing  # noqa: E402
from tests.capture.test_neutral_capture import train as neutral_train  # noqa: E402
from tftrace.format.reader import open_trace  # noqa: E402
from tftrace.recording import neutrality  # noqa: E402
from tftrace.recording.neutrality import NeutralityCheck  # noqa: E402
from tftrace.recording.summaries import SUMMARY_SCOPE  # noqa: E402

X = np.random.default_rng(0).random(1000, dtype=np.float32)


def test_grapplers_deadline_skips_rewrites_and_changes_results() -> None:
    # Why the check gives up near the deadline: a Session whose Grappler deadline passes
    # at once does not fold (x * 0.1) * 3.0 into x * 0.3, and rounds differently.
    def run(timeout_ms: int | None) -> np.ndarray:
        graph = tf.Graph()
        with graph.as_default():
            x = tf.compat.v1.placeholder(tf.float32, X.shape)
            config = tf.compat.v1.ConfigProto()
            if timeout_ms is not None:
                config.graph_options.rewrite_options.meta_optimizer_timeout_ms = timeout_ms
            with tf.compat.v1.Session(graph=graph, config=config) as sess:
                return sess.run((x * 0.1) * 3.0, {x: X})

    assert (run(None) != run(1)).sum() > 100
    np.testing.assert_array_equal(run(None), run(-1))  # no deadline: the same rewrites


def train(path, steps: int = 2):
    """Losses and variables after ``steps`` training steps in a tf.function: recorded to
    ``path`` with the statistics of the forward pass's ops (the model's scope), or not
    recorded (None)."""
    return neutral_train(path, steps, layers="off", gradients="off", ops="stats", op_scopes=["net*"])


def left_out(path) -> set[str]:
    return {g["name"] for g in open_trace(path).environment["not_captured"]
            if g["reason"] == "observer-effect"}


def test_op_statistics_keep_a_training_step_bit_equal(tmp_path, monkeypatch) -> None:
    probed: list[list[bool]] = []  # per optimization with observations: read through statistics?
    with_probes = neutrality._with_probes

    def spy(graph_def, probes, as_fetches):
        probed.append([SUMMARY_SCOPE in t.name for t in probes])
        return with_probes(graph_def, probes, as_fetches)

    monkeypatch.setattr(neutrality, "_with_probes", spy)
    plain = train(None)
    recorded = train(tmp_path / "t.zarr")
    np.testing.assert_array_equal(recorded[0], plain[0])
    assert differing(recorded, plain) == 0
    trace = open_trace(tmp_path / "t.zarr")
    ops = {e.name for e in trace.events if e.kind == "op"}
    # The check searched with the values read alone, and optimized the step with the
    # statistics ops themselves of every op output it admitted.
    assert any(not any(call) for call in probed)
    assert len(ops) in {len(call) for call in probed if all(call)}, (len(ops), probed)
    gone = left_out(tmp_path / "t.zarr")
    assert len(ops) > 5 and gone and not ops & gone, (len(ops), gone)
    assert all(e.digest is None and e.stats is not None for e in trace.events if e.kind == "op")
    # Negative control: the same statistics with no check change the numbers.
    monkeypatch.setattr(NeutralityCheck, "changing", lambda self, *args, **kwargs: set())
    observed = train(tmp_path / "observed.zarr")
    assert differing(observed, plain) > 0


def test_a_graph_too_slow_to_optimize_with_its_observations_is_not_observed(tmp_path,
                                                                            monkeypatch) -> None:
    # As if optimizing the function with its op statistics came near Grappler's deadline.
    path = tmp_path / "t.zarr"

    def record() -> None:
        with tftrace.record(path, seed_mode="off", ops="stats", layers="off", gradients="off",
                            optimizer="off", overwrite=True):
            tf.function(lambda v: tf.nn.relu(v * 2.0) + 1.0)(tf.constant(X))  # traced here

    record()  # Negative control: with the deadline far away, the three ops are recorded.
    assert [e.name for e in open_trace(path).events] == ["mul:0", "Relu:0", "add:0"]
    monkeypatch.setattr(neutrality, "grappler_deadline", lambda: 1e-6)
    record()
    trace = open_trace(path)
    assert [e.name for e in trace.events] == []
    check = trace.environment["observer_check"]
    assert (check["graphs_near_deadline"], check["observations_left_out"]) == (1, 3)
    assert left_out(path) == {"mul:0", "Relu:0", "add:0"}
    assert "deadline" in check["errors"][0]


def test_statistics_that_stop_a_rewrite_the_value_alone_does_not_are_left_out() -> None:
    # The check searches with the values read alone, then verifies the rest with what
    # the observers really read. Here that reads an intermediate Grappler folds away:
    # the value alone is neutral, its "statistics" are not.
    seen = {}

    @tf.function
    def f(x):
        a = x * 0.1
        y = a * 3.0  # folded into x * 0.3 unless a is needed
        seen["y"] = y
        seen["probe"] = tf.stack([tf.reduce_sum(y), tf.reduce_sum(a)], name=SUMMARY_SCOPE)
        return y

    graph = f.get_concrete_function(tf.TensorSpec(X.shape, tf.float32)).graph
    check = NeutralityCheck()
    fetches = [seen["y"].name]
    # Control: observing the value alone changes nothing.
    assert check.changing(graph, fetches, [seen["y"]], as_fetches=False) == set()
    assert check.changing(graph, fetches, [seen["y"]], as_fetches=False, probes=[seen["probe"]]) == {0}
    assert check.stats.left_out == 1 and not check.stats.errors


def test_near_the_deadline_the_first_values_that_fit_are_observed(tmp_path, monkeypatch) -> None:
    # As if each value's statistics cost Grappler 1 s and the graph 0.1 s, with a 5 s
    # deadline (2.5 s for the check): all three statistics do not fit, the first fits.
    path = tmp_path / "t.zarr"
    clock = [0.0]
    optimize = neutrality._optimize

    def slow_optimize(graph_def, fetches, observations=()):
        nodes = {node.name: node for node in graph_def.node}
        statistics = sum(SUMMARY_SCOPE in nodes[name].input[0] for name in observations)
        clock[0] += 0.1 + statistics
        return optimize(graph_def, fetches, observations)

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            return clock[0]

    monkeypatch.setattr(neutrality, "_optimize", slow_optimize)
    monkeypatch.setattr(neutrality, "time", Clock)
    monkeypatch.setattr(neutrality, "grappler_deadline", lambda: 5.0)
    with tftrace.record(path, seed_mode="off", ops="stats", layers="off", gradients="off",
                        optimizer="off"):
        tf.function(lambda v: tf.nn.relu(v * 2.0) + 1.0)(tf.constant(X))
    trace = open_trace(path)
    assert [e.name for e in trace.events] == ["mul:0"]
    assert left_out(path) == {"Relu:0", "add:0"}
    check = trace.environment["observer_check"]
    assert (check["graphs_near_deadline"], check["observations_left_out"]) == (1, 2)
    assert "kept the first 1 of 3" in check["errors"][0]
