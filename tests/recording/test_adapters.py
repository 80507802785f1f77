"""One adapter per execution model, chosen once; one replay matching rule for every path.

Each replay test runs B with another seed than A (so B's own draws differ from A's,
shown by the control run) and checks that every random op of B, initializer draw
included, went through ``ReplaySource._match`` and holds A's values.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tftrace.errors import ReplayError
from tftrace.format.reader import open_trace
from tftrace.recording.replay import ReplaySource


def test_each_execution_model_has_its_adapter(tmp_path) -> None:
    seen = {}
    with tftrace.record(tmp_path / "t.zarr") as rec:
        seen["eager"] = rec.adapters.for_graph(None)

        @tf.function
        def traced() -> tf.Tensor:
            seen["function"] = rec.adapters.for_graph(tf.compat.v1.get_default_graph())
            return tf.constant(1.0)

        traced()
        seen["graph"] = rec.adapters.for_graph(tf.Graph())
    assert {mode: type(adapter).__name__ for mode, adapter in seen.items()} == {
        "eager": "EagerAdapter", "function": "FunctionAdapter", "graph": "SessionAdapter"}
    assert all(adapter.mode == mode for mode, adapter in seen.items())


def _draws(path) -> list[tuple[bool, np.ndarray]]:
    trace = open_trace(path)
    return [(bool(e.attrs.initializer), np.asarray(trace.array(e)))
            for e in trace.events if e.kind == "random_op"]


def _run_a(path) -> None:
    with tftrace.record(path, seed=1):
        tf.Variable(lambda: tf.random.uniform([3]), name="w")
        tf.random.uniform([2, 2])


def _eager(dropout_shape=(2, 2)) -> None:
    tf.Variable(lambda: tf.random.uniform([3]), name="w")
    tf.random.uniform(dropout_shape)


def _function() -> None:
    tf.Variable(lambda: tf.random.uniform([3]), name="w")
    tf.function(lambda: tf.random.uniform([2, 2]))()


def _session() -> None:
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        tf.compat.v1.get_variable("w", [3], initializer=tf.compat.v1.random_uniform_initializer())
        dropout = tf.random.uniform([2, 2])
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(dropout)


@pytest.mark.parametrize("run_b, mode", [
    pytest.param(_eager, "eager", id="eager"),
    pytest.param(_function, "function", id="tf.function"),
    pytest.param(_session, "graph", id="session"),
])
def test_every_replay_path_goes_through_the_one_matching_rule(tmp_path, monkeypatch, run_b,
                                                               mode) -> None:
    _run_a(tmp_path / "a.zarr")
    matched: list[tuple[str, bool]] = []
    rule = ReplaySource._match

    def spy(self, info, *args, **kwargs):
        matched.append((info.mode, bool(info.initializer)))
        return rule(self, info, *args, **kwargs)

    monkeypatch.setattr(ReplaySource, "_match", spy)
    with tftrace.replay(tmp_path / "a.zarr", record_to=tmp_path / "b.zarr", variables=False,
                        seed=2):
        run_b()
    with tftrace.record(tmp_path / "own.zarr", seed=2):  # control: B's own draws, no replay
        run_b()
    initializer_mode = "graph" if mode == "graph" else "eager"
    assert matched == [(initializer_mode, True), (mode, False)]
    a, b, own = _draws(tmp_path / "a.zarr"), _draws(tmp_path / "b.zarr"), _draws(tmp_path / "own.zarr")
    assert [flag for flag, _ in b] == [True, False] == [flag for flag, _ in a]
    for (_, a_value), (_, b_value), (_, own_value) in zip(a, b, own):
        np.testing.assert_array_equal(b_value, a_value)
        assert not np.array_equal(own_value, a_value)  # the equality above is replay's doing


def test_a_mismatching_draw_fails_in_the_matching_rule(tmp_path) -> None:
    _run_a(tmp_path / "a.zarr")
    with pytest.raises(ReplayError, match=r"random op #1 of run B does not match random op #1"):
        with tftrace.replay(tmp_path / "a.zarr", record_to=tmp_path / "b.zarr", variables=False):
            _eager(dropout_shape=(5,))
