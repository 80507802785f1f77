"""Recording never changes the program's results: an observation that would change how
TensorFlow optimizes the graph is left out, said on stderr and listed in the trace."""

from __future__ import annotations

import contextlib

import msgpack
import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tftrace.format.reader import open_trace
from tftrace.recording.neutrality import NeutralityCheck

X = np.random.default_rng(0).random(1000, dtype=np.float32)


def scaled(x, observe):
    """(x * 0.1) * 3.0: Grappler folds the constants into x * 0.3, unless x * 0.1 is needed."""
    a = x * 0.1
    if observe:
        tftrace.endpoint("a", a)
    return a * 3.0


def in_function(path):
    f = tf.function(lambda x: scaled(x, path is not None))
    if path is None:
        return f(X).numpy()
    with tftrace.record(path, seed_mode="off"):
        return f(X).numpy()


def in_session(path):
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        x = tf.compat.v1.placeholder(tf.float32, X.shape)
        if path is None:
            return sess.run(scaled(x, False), {x: X})
        with tftrace.record(path, seed_mode="off"):
            return sess.run(scaled(x, True), {x: X})


@pytest.mark.parametrize("program", [pytest.param(in_function, id="tf.function"),
                                     pytest.param(in_session, id="session")])
def test_an_observation_grappler_would_fold_away_is_left_out(tmp_path, program, capfd, monkeypatch):
    plain = program(None)
    recorded = program(tmp_path / "t.zarr")
    np.testing.assert_array_equal(recorded, plain)  # bit for bit
    assert "tftrace: endpoint 'a' in " in capfd.readouterr().err
    trace = open_trace(tmp_path / "t.zarr")
    assert [e.name for e in trace.events] == []
    (gap,) = trace.environment["not_captured"]
    assert (gap["kind"], gap["name"], gap["reason"]) == ("endpoint", "a", "observer-effect")
    assert trace.environment["observer_check"]["observations_left_out"] == 1
    # Negative control: observing it anyway changes the results (what tftrace used to do).
    monkeypatch.setattr(NeutralityCheck, "changing", lambda self, *args, **kwargs: set())
    observed = program(tmp_path / "observed.zarr")
    assert (observed != plain).sum() > 100
    np.testing.assert_array_equal(open_trace(tmp_path / "observed.zarr").array("a"), X * np.float32(0.1))


def test_keras_training_step_with_a_logits_endpoint_keeps_its_losses(tmp_path):
    """The program of issue 10, case 6: an endpoint on the logits inside the step."""
    import keras

    def train(path):
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x, y = rng.random((64, 20), dtype=np.float32), rng.integers(0, 10, 64)
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(10)])
        optimizer, loss_fn = keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(
            from_logits=True)

        @tf.function
        def step(xb, yb):
            with tf.GradientTape() as tape:
                logits = model(xb, training=True)
                tftrace.endpoint("logits", logits)
                loss = loss_fn(yb, logits)
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                          model.trainable_variables))
            return loss

        if path is None:
            return [step(x, y).numpy() for _ in range(20)]
        with tftrace.record(path, seed_mode="off") as rec:
            losses = []
            for _ in range(20):
                losses.append(step(x, y).numpy())
                rec.next_step()
            return losses

    plain = train(None)
    recorded = train(tmp_path / "t.zarr")
    assert recorded == plain
    trace = open_trace(tmp_path / "t.zarr")
    assert [e.step for e in trace.select("endpoint", "logits")] == list(range(20))
    assert not trace.environment["not_captured"]


def test_when_the_check_cannot_run_observations_are_made_and_the_error_kept(tmp_path, monkeypatch):
    from tftrace.recording import neutrality

    def unavailable(*args, **kwargs):
        raise RuntimeError("grappler unavailable")

    monkeypatch.setattr(neutrality.tf_optimizer, "OptimizeGraph", unavailable)
    in_function(tmp_path / "t.zarr")
    trace = open_trace(tmp_path / "t.zarr")
    assert [e.name for e in trace.events] == ["a"]
    assert trace.environment["observer_check"]["errors"] == ["RuntimeError: grappler unavailable"]


def _not_captured_writes(path):
    """How many environment records of the trace's log hold the not-captured list."""
    writes = 0
    for segment in sorted((path / "log").iterdir(), key=lambda p: int(p.name)):
        for record in msgpack.Unpacker(open(segment, "rb"), raw=False):
            writes += record.get("type") == "environment" and "not_captured" in record["environment"]
    return writes


def many_scaled(n):
    def program(path):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            x = tf.compat.v1.placeholder(tf.float32, X.shape)
            with tftrace.record(path, seed_mode="off"):
                outputs = []
                for k in range(n):
                    a = x * (0.1 + k)
                    tftrace.endpoint(f"a{k}", a)
                    outputs.append(a * 3.0)
                return sess.run(outputs, {x: X})
    return program


def test_values_a_check_leaves_out_are_listed_in_one_write(tmp_path, monkeypatch):
    # The list is written whole each time: one write per left-out value made the log grow
    # with the square of their count (1000 op outputs: about 100 MB).
    many_scaled(40)(tmp_path / "t.zarr")
    trace = open_trace(tmp_path / "t.zarr")
    assert sorted(g["name"] for g in trace.environment["not_captured"]) == sorted(f"a{k}" for k in range(40))
    assert _not_captured_writes(tmp_path / "t.zarr") == 2  # the check's, and the end's
    # Negative control: written per entry, as before.
    monkeypatch.setattr("tftrace.recording.gaps.GapList.deferred", lambda self: contextlib.nullcontext())
    many_scaled(40)(tmp_path / "each.zarr")
    assert _not_captured_writes(tmp_path / "each.zarr") == 41


def test_a_function_traced_again_is_first_checked_without_what_its_last_trace_left_out(monkeypatch):
    from tftrace.recording import neutrality

    seen = {}

    def f(x):
        a = x * 0.1  # folded into (x * 0.1) * 3.0 = x * 0.3 unless observed: a culprit
        b = tf.nn.relu(x)  # the program computes it anyway: innocent
        seen["observed"] = [a, b]
        return a * 3.0 + b

    searched = []
    kept_apart = neutrality.kept_apart
    monkeypatch.setattr(neutrality, "kept_apart", lambda *a: searched.append(1) or kept_apart(*a))
    check = NeutralityCheck()

    def changing():  # f traced again, as TensorFlow retraces a step that created variables
        graph = tf.function(f).get_concrete_function(tf.TensorSpec((10,), tf.float32)).graph
        return check.changing(graph, [t.name for t in graph.outputs], seen["observed"], as_fetches=False)

    assert changing() == {0} and len(searched) == 1
    assert changing() == {0} and len(searched) == 1  # the hint, verified, settled it
    # A wrong hint (the innocent value) is verified, found wrong, and the search runs.
    (key,) = check._left_out
    check._left_out[key] = frozenset({1})
    assert changing() == {0} and len(searched) == 2
