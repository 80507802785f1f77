"""Under replay, a variable that took A's initial value is not reported for drawing its own
initial value from another distribution: the initializer draw is shown as replaced."""

from __future__ import annotations

import tensorflow as tf

import tftrace


def record_a(path):
    with tftrace.record(path):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session() as session:
            kernel = tf.compat.v1.get_variable(
                "dense/kernel", (4, 3), initializer=tf.compat.v1.glorot_uniform_initializer())
            out = tf.nn.dropout(tf.matmul(tf.ones((2, 4)), kernel), rate=0.5)
            tftrace.endpoint("out", out)
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(out)
    return path


def record_b(path, source, initializer):
    with tftrace.replay(source, record_to=path):
        # The draw happens inside the variable's creation: an initializer's draw.
        kernel = tf.Variable(lambda: initializer((4, 3)), name="dense/kernel")
        tftrace.endpoint("out", tf.nn.dropout(tf.matmul(tf.ones((2, 4)), kernel), rate=0.5))
    return path


def test_replaced_initializer_of_another_distribution_is_not_a_divergence(tmp_path):
    a = record_a(tmp_path / "a.zarr")
    normal = tf.compat.v1.truncated_normal_initializer(stddev=0.1)
    b = record_b(tmp_path / "b.zarr", a, normal)
    result = tftrace.diff(a, b)
    assert result.equivalent, result.first_divergence
    skipped = [p for p in result.pairs if p.kind == "random_op" and p.status == "skipped"]
    assert skipped and all("initializer draw" in p.message and "'dense/kernel'" in p.message
                           for p in skipped)
    # Negative control: without A's initial value (variables not replayed) the draws count.
    with tftrace.replay(a, record_to=tmp_path / "c.zarr", variables=False):
        kernel = tf.Variable(lambda: normal((4, 3)), name="dense/kernel")
        tftrace.endpoint("out", tf.nn.dropout(tf.matmul(tf.ones((2, 4)), kernel), rate=0.5))
    assert not tftrace.diff(a, tmp_path / "c.zarr").equivalent
