"""``lagged``: a value read before the update in B and after it in A.

A: TF1 Session, ``tf.compat.v1.layers.dense``, GradientDescent; the endpoint ``kernel`` is
   the kernel read after the update (``tf.control_dependencies([train])``), fetched with
   the training run.
B: the same layer function in a ``tf.function`` through the ``track_tf1_style_variables``
   shim, tape + hand SGD; the kernel is read *before* ``assign_sub`` (fault) or after it
   (fault=False). A's initial weights by replay.

Evidence: B's ``kernel`` at step k equals A's at step k-1 (bit for bit up to rounding),
step 0 equals A's initial value; the snapshots (after the update) agree.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("lagged",)
LR = 0.1
X = _base.features(8, 6, seed=0)
Y = _base.features(8, 2, seed=1)


def run_a(rec: Any) -> None:
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        out = tf.compat.v1.layers.dense(tf.constant(X), 2, name="dense")
        loss = tf.reduce_mean(tf.square(out - Y))
        kernel = [v for v in tf.compat.v1.trainable_variables() if "kernel" in v.name][0]
        train = tf.compat.v1.train.GradientDescentOptimizer(LR).minimize(loss)
        with tf.control_dependencies([train]):
            kernel_after = kernel.read_value()
        rec.endpoint("loss", loss)
        rec.endpoint("kernel", kernel_after)
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(_base.STEPS):
            sess.run([train, loss, kernel_after])
            rec.snapshot_variables()
            rec.next_step()


def run_b(rec: Any, fault: bool = True) -> None:
    import tensorflow as tf

    import tftrace

    class Net(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, x: Any) -> Any:
            return tf.compat.v1.layers.dense(x, 2, name="dense")

    net = Net()
    x, y = tf.constant(X), tf.constant(Y)
    net(x)  # build eagerly

    @tf.function
    def step() -> None:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(net(x) - y))
        tftrace.endpoint("loss", loss)
        kernel = [v for v in net.trainable_variables if "kernel" in v.name][0]
        grads = tape.gradient(loss, net.trainable_variables)
        if fault:
            tftrace.endpoint("kernel", kernel.read_value())  # read before the update
        for var, grad in zip(net.trainable_variables, grads):
            var.assign_sub(LR * grad)
        if not fault:
            tftrace.endpoint("kernel", kernel.read_value())

    for _ in range(_base.STEPS):
        step()
        rec.snapshot_variables()
        rec.next_step()


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source)
