"""Replay: run B consumes run A's random values and initial variable values.

The pairs here differ in what replay removes: the random-number generator (a
Session seeded by TensorFlow's own seeding vs. the eager shim), the framework (a
TF1 graph vs. a Keras 3 model with its own initializers and stateless dropout).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_slim as slim

import tftrace
from tests.recording.recording_helpers import by_name, events, requires_keras3
from tests.recording.slim_models import small_net
from tftrace.errors import ReplayError
from tftrace.report.text import render_text

STEPS = 3
IMAGES = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
LABELS = np.array([1, 2, 3, 4], dtype=np.int64)


def cross_entropy(logits):
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(LABELS), logits=logits))


def train_session(rec, steps=STEPS, seed=1234):
    """The slim net in a TF1 Session, with the program's own graph seed."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        tf.compat.v1.set_random_seed(seed)
        logits, end_points = small_net(tf.constant(IMAGES), True)
        rec.endpoints(end_points)
        loss = cross_entropy(logits)
        with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
            train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        rec.endpoint("loss", loss)
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(steps):
            sess.run([train, loss])
            rec.snapshot_variables()
            rec.next_step()


def train_shim(rec, steps=STEPS):
    """The same model function, eagerly, through track_tf1_style_variables."""
    class SlimNet(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, inputs, training=False):
            logits, end_points = small_net(inputs, training)
            rec.endpoints(end_points)
            return logits

    layer = SlimNet()
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = cross_entropy(layer(tf.constant(IMAGES), training=True))
        rec.endpoint("loss", loss)
        grads = tape.gradient(loss, layer.trainable_variables)
        for variable, grad in zip(layer.trainable_variables, grads):
            variable.assign_sub(0.1 * grad)
        rec.snapshot_variables()
        rec.next_step()


@pytest.fixture(scope="module")
def session_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "session.zarr"
    with tftrace.record(path, seed_mode="off") as rec:
        train_session(rec)
    return path


def test_shim_under_replay_of_a_session_is_equivalent(tmp_path, session_trace):
    with tftrace.replay(session_trace, record_to=tmp_path / "shim.zarr") as rec:
        train_shim(rec)
    result = tftrace.diff(session_trace, tmp_path / "shim.zarr")
    assert result.equivalent, render_text(result)
    # B consumed exactly A's values: the same dropout masks and initial weights, bit for bit.
    a_random = by_name(session_trace, "random_op")
    b_random = events(tmp_path / "shim.zarr", "random_op")
    assert len(b_random) == len(events(session_trace, "random_op")) == 2 + STEPS
    assert all("replayed_from" in e.attrs for e in b_random)
    trace_b = tftrace.open(tmp_path / "shim.zarr")
    trace_a = tftrace.open(session_trace)
    for event in b_random:
        source = next(e for e in trace_a.events if e.seq == event.attrs["replayed_from"])
        assert source.attrs["op_type"] == event.attrs["op_type"] == "RandomUniform"
        np.testing.assert_array_equal(trace_b.array(event), trace_a.array(source))
    assert len(a_random) == 3  # two initializers and one dropout op, run each step
    variables_a = by_name(session_trace, "variable")
    for name, (event, value) in by_name(tmp_path / "shim.zarr", "variable").items():
        assert event.attrs["replayed"] is True
        np.testing.assert_array_equal(value, variables_a[name][1])
    # Losses of every step agree with A's (computation is the same up to float order).
    losses_a = [trace_a.array("loss", step=s) for s in range(STEPS)]
    losses_b = [trace_b.array("loss", step=s) for s in range(STEPS)]
    np.testing.assert_allclose(losses_b, losses_a, rtol=1e-6)
    assert len(set(np.asarray(losses_a).tolist())) == STEPS  # training moved the loss


def test_without_replay_the_random_stream_breaks_first(tmp_path, session_trace):
    with tftrace.record(tmp_path / "shim.zarr") as rec:
        train_shim(rec)
    result = tftrace.diff(session_trace, tmp_path / "shim.zarr")
    assert not result.equivalent
    assert result.broken_stream == "random"
    assert result.first_divergence.kind == "random_op"
    assert "broke first: random values" in render_text(result)


def test_the_diff_header_says_what_was_replayed(tmp_path, session_trace):
    with tftrace.replay(session_trace, record_to=tmp_path / "b.zarr") as rec:
        train_shim(rec, steps=1)
    replay = tftrace.open(tmp_path / "b.zarr").environment["replay"]
    assert replay["source"] == str(session_trace)
    assert replay["random"] is True and replay["variables"] is True
    # step 0 of A holds the two initializers and the dropout; its 6 variables are all in B
    assert (replay["random_ops_replayed"], replay["variables_replayed"]) == (3, 6)
    assert replay["variables_not_replayed"] == []
    result = tftrace.diff(session_trace, tmp_path / "b.zarr", only="variables,random")
    lines = render_text(result).splitlines()
    assert lines[3] == f"     replayed from {session_trace}: 3 random values and 6 initial variable values"
    assert result.to_dict()["b"]["replay"]["source"] == str(session_trace)


def test_a_session_replays_a_session_per_run(tmp_path, session_trace):
    """Another seed, same values: each Session.run is fed A's values for its random ops."""
    with tftrace.replay(session_trace, record_to=tmp_path / "b.zarr", seed_mode="off") as rec:
        train_session(rec, seed=99)
    result = tftrace.diff(session_trace, tmp_path / "b.zarr")
    assert result.equivalent, render_text(result)
    summary = {s.kind: s for s in result.summary}
    assert summary["snapshot"].equal == summary["snapshot"].compared == 6 * STEPS


def test_a_session_replays_an_eager_run(tmp_path):
    with tftrace.record(tmp_path / "eager.zarr") as rec:
        train_shim(rec)
    with tftrace.replay(tmp_path / "eager.zarr", record_to=tmp_path / "b.zarr", seed_mode="off") as rec:
        train_session(rec)
    result = tftrace.diff(tmp_path / "eager.zarr", tmp_path / "b.zarr")
    assert result.equivalent, render_text(result)


class TinyKeras3(keras.Model):
    """Keras 3 layers with their default initializers; built on the first call."""

    def __init__(self):
        super().__init__(name="tiny")
        self.conv = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")
        self.flatten = keras.layers.Flatten()
        self.dropout = keras.layers.Dropout(0.5)
        self.fc = keras.layers.Dense(10, name="logits")

    def call(self, x, training=False):
        return self.fc(self.dropout(self.flatten(self.conv(x)), training=training))


def tf1_graph_run(rec):
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        net = slim.conv2d(tf.constant(IMAGES), 8, [3, 3], scope="conv1")
        net = slim.dropout(slim.flatten(net), 0.5, is_training=True, scope="dropout")
        loss = cross_entropy(slim.fully_connected(net, 10, activation_fn=None, scope="logits"))
        train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        rec.endpoint("loss", loss)
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(STEPS):
            sess.run([train, loss])  # the loss endpoint is recorded by runs that compute it
            rec.next_step()


def keras3_eager_run(rec):
    model = TinyKeras3()
    optimizer = keras.optimizers.SGD(0.1)
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            loss = cross_entropy(model(IMAGES, training=True))
        rec.endpoint("loss", loss)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        rec.next_step()


KERAS3_TO_SLIM = [(r"^tiny/", ""), (r"/kernel$", "/weights"), (r"/bias$", "/biases")]


@requires_keras3
def test_keras3_model_takes_a_tf1_graphs_weights_and_dropout(tmp_path):
    with tftrace.record(tmp_path / "tf1.zarr") as rec:
        tf1_graph_run(rec)
    with tftrace.replay(tmp_path / "tf1.zarr", record_to=tmp_path / "k3.zarr",
                        rename=KERAS3_TO_SLIM) as rec:
        keras3_eager_run(rec)
    result = tftrace.diff(tmp_path / "tf1.zarr", tmp_path / "k3.zarr", only="endpoints")
    assert result.equivalent, render_text(result)
    trace_a, trace_b = tftrace.open(tmp_path / "tf1.zarr"), tftrace.open(tmp_path / "k3.zarr")
    np.testing.assert_allclose([trace_b.array("loss", step=s) for s in range(STEPS)],
                               [trace_a.array("loss", step=s) for s in range(STEPS)], rtol=1e-6)
    # Keras 3 draws its dropout masks with StatelessRandomUniformV2: replaced by A's RandomUniform.
    dropouts = [e for e in trace_b.events if e.kind == "random_op" and not e.attrs["initializer"]]
    assert [e.attrs["op_type"] for e in dropouts] == ["StatelessRandomUniformV2"] * STEPS
    # Variables are named by their Keras path; the four with a TF1 counterpart start from it.
    variables = {e.name: e for e in trace_b.events if e.kind == "variable"}
    for keras_name, slim_name in [("tiny/conv1/kernel", "conv1/weights:0"),
                                  ("tiny/logits/bias", "logits/biases:0")]:
        assert variables[keras_name].attrs["replayed"] is True
        np.testing.assert_array_equal(trace_b.array(variables[keras_name]), trace_a.array(slim_name))
    replay = trace_b.environment["replay"]
    assert replay["variables_replayed"] == 4
    assert "seed_generator/seed_generator_state" in replay["variables_not_replayed"]
    assert variables["seed_generator/seed_generator_state"].attrs["replayed"] is False
    # The whole diff agrees on random ops too (the two frameworks draw the same distributions).
    full = tftrace.diff(tmp_path / "tf1.zarr", tmp_path / "k3.zarr", rename=KERAS3_TO_SLIM)
    random_summary = next(s for s in full.summary if s.kind == "random_op")
    assert random_summary.equal == random_summary.compared == 2 + STEPS


def draw_uniform():
    return tf.random.uniform([2, 3])


def draw_normal():
    return tf.random.normal([4])


def test_a_mismatched_random_op_stops_replay_naming_both(tmp_path):
    with tftrace.record(tmp_path / "a.zarr"):
        draw_uniform()
    call_site_a = events(tmp_path / "a.zarr", "random_op")[0].attrs["call_site"]
    assert call_site_a == f"{__file__}:{draw_uniform.__code__.co_firstlineno + 1} in draw_uniform"
    with pytest.raises(ReplayError) as caught, \
            tftrace.replay(tmp_path / "a.zarr", record_to=tmp_path / "b.zarr"):
        draw_normal()
    assert str(caught.value) == textwrap.dedent(f"""\
        replay: random op #0 of run B does not match random op #0 of run A ({tmp_path / 'a.zarr'}).
          A: random op #0: RandomUniform float32 [2, 3] at {call_site_a} (step 0, seq 0)
          B: random op #0: RandomStandardNormal float32 [4] at {__file__}:{draw_normal.__code__.co_firstlineno + 1} in draw_normal (step 0)
        Expected the same kind of random op with the same shape and dtype, in the same order. If B creates its random ops in another order or has extra ones, replay only the variables (--replay-random off, or random=False), or re-record A with the same model code.""")
    # The trace B is closed, says the run raised the replay error and that replay stopped.
    trace_b = tftrace.open(tmp_path / "b.zarr")
    assert not trace_b.complete and trace_b.status.exception_type == "ReplayError"
    assert trace_b.environment["replay"]["error"] == str(caught.value)


def test_running_out_of_random_values_is_an_error(tmp_path):
    with tftrace.record(tmp_path / "a.zarr"):
        draw_uniform()
    with pytest.raises(ReplayError, match=r"random op #1 of run B has no counterpart in run A .*"
                                          r"A recorded 1 random ops"), \
            tftrace.replay(tmp_path / "a.zarr"):
        draw_uniform()
        draw_uniform()


def test_replay_without_recording_feeds_values_in_tf_function(tmp_path):
    @tf.function
    def noisy(x):
        return tf.nn.dropout(x, 0.5)

    with tftrace.record(tmp_path / "a.zarr") as rec:
        for _ in range(3):
            rec.endpoint("y", noisy(tf.ones([64])))
            rec.next_step()
    trace_a = tftrace.open(tmp_path / "a.zarr")
    expected = [trace_a.array("y", step=s) for s in range(3)]
    assert not np.array_equal(expected[0], expected[1])  # fresh masks every step
    with tftrace.replay(tmp_path / "a.zarr", seed=7) as rec:
        assert rec.path is None
        got = []
        for _ in range(3):
            got.append(noisy(tf.ones([64])).numpy())
            rec.next_step()
    np.testing.assert_array_equal(got, expected)


def test_replay_needs_the_values_of_a(tmp_path):
    with tftrace.record(tmp_path / "a.zarr", capture="stats"):
        draw_uniform()
    with pytest.raises(ReplayError, match="A holds no values .*capture='stats'"), \
            tftrace.replay(tmp_path / "a.zarr"):
        draw_uniform()


def test_variables_only_keeps_bs_own_random_values(tmp_path):
    with tftrace.record(tmp_path / "a.zarr"):
        tf.Variable(tf.zeros([3]) + 5.0, name="w")
        draw_uniform()
    with tftrace.replay(tmp_path / "a.zarr", record_to=tmp_path / "b.zarr", random=False, seed=7):
        w = tf.Variable(tf.zeros([3]), name="w")
        value = draw_normal()  # a different op: no error, random values are not replayed
    np.testing.assert_array_equal(w.numpy(), [5.0, 5.0, 5.0])
    assert "replayed_from" not in events(tmp_path / "b.zarr", "random_op")[0].attrs
    assert value.shape == (4,)


SCRIPT = """
import sys
import tensorflow as tf
import tftrace
kind = sys.argv[1]
w = tf.Variable(tf.zeros([2]), name="w")
tftrace.endpoint("noise", tf.random.uniform([3]) if kind == "uniform" else tf.random.normal([3]))
tftrace.endpoint("w", w)
"""


def tftrace_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tftrace", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_record_replay(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    first = tftrace_cli("record", "-o", "a.zarr", "--seed", "1", script, "uniform", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = tftrace_cli("record", "-o", "b.zarr", "--seed", "2", "--replay", "a.zarr", script,
                         "uniform", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    diff = tftrace_cli("diff", "a.zarr", "b.zarr", cwd=tmp_path)
    assert diff.returncode == 0, diff.stdout
    assert "     replayed from a.zarr: 1 random values and 1 initial variable values" in diff.stdout
    mismatch = tftrace_cli("record", "-o", "c.zarr", "--replay", "a.zarr", script, "normal",
                           cwd=tmp_path)
    assert mismatch.returncode == 2
    errors = [line for line in mismatch.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: replay: random op #0 of run B does not match random op #0 of run "
                      "A (a.zarr)."]
    assert "Traceback" not in mismatch.stderr
    assert tftrace.open(tmp_path / "c.zarr").status.exception_type == "ReplayError"
    variables_only = tftrace_cli("record", "-o", "d.zarr", "--replay", "a.zarr",
                                 "--replay-random", "off", script, "normal", cwd=tmp_path)
    assert variables_only.returncode == 0, variables_only.stderr
    misuse = tftrace_cli("record", "-o", "e.zarr", "--replay-random", "off", script, "normal",
                         cwd=tmp_path)
    assert misuse.returncode == 2 and "need --replay" in misuse.stderr


def test_tf_keras_layers_start_from_a_s_initial_values(tmp_path):
    def run():
        model = tf.keras.Sequential([tf.keras.layers.Dense(4, name="hidden"),
                                     tf.keras.layers.Dropout(0.5), tf.keras.layers.Dense(2, name="out")])
        return model, model(tf.ones([3, 5]), training=True).numpy()

    with tftrace.record(tmp_path / "a.zarr", seed=1):
        model_a, out_a = run()
    with tftrace.replay(tmp_path / "a.zarr", record_to=tmp_path / "b.zarr", seed=2):
        model_b, out_b = run()
    for weight_a, weight_b in zip(model_a.weights, model_b.weights):
        np.testing.assert_array_equal(weight_b.numpy(), weight_a.numpy())
    np.testing.assert_array_equal(out_b, out_a)  # the same dropout mask, too
    with tftrace.record(tmp_path / "c.zarr", seed=2):
        model_c, _ = run()
    assert not np.array_equal(model_c.weights[0].numpy(), model_a.weights[0].numpy())
    assert all(e.attrs["replayed"] for e in events(tmp_path / "b.zarr", "variable"))


def test_replay_refuses_to_record_over_its_source(tmp_path):
    with tftrace.record(tmp_path / "a.zarr"):
        draw_uniform()
    before = sorted(p.name for p in (tmp_path / "a.zarr").rglob("*"))
    with pytest.raises(tftrace.TftraceError, match="record over its own source"):
        with tftrace.replay(tmp_path / "a.zarr", record_to=tmp_path / "a.zarr", overwrite=True):
            pass
    assert sorted(p.name for p in (tmp_path / "a.zarr").rglob("*")) == before
    assert tftrace.open(tmp_path / "a.zarr").complete
