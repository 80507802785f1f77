"""``stale`` / ``constant-learning-rate``: a learning-rate schedule evaluated once.

A: TF1 Session, ``tf.compat.v1.layers.dense``, ``exponential_decay(0.1, global_step, 1, 0.5)``
   into ``GradientDescentOptimizer``; endpoint ``learning_rate`` fetched with each step.
B: Keras 3 ``Dense`` + ``keras.optimizers.SGD`` in a ``tf.function``; the schedule is
   evaluated once outside the step, ``SGD(float(schedule(0)))`` (fault), or passed as a
   schedule (fault=False). Endpoint ``learning_rate`` = ``optimizer.learning_rate`` read
   in the step before the update. A's initial weights by replay.

Evidence: B's ``learning_rate`` is the same at every step while A's halves; the loss and
the snapshots agree at step 0 and diverge from step 1.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("stale", "constant-learning-rate")
BASE_LR, DECAY_STEPS, DECAY_RATE = 0.1, 1, 0.5
X = _base.features(8, 6, seed=0)
Y = _base.features(8, 2, seed=1)


def run_a(rec: Any) -> None:
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        out = tf.compat.v1.layers.dense(tf.constant(X), 2, name="dense")
        loss = tf.reduce_mean(tf.square(out - Y))
        global_step = tf.compat.v1.train.get_or_create_global_step()
        learning_rate = tf.compat.v1.train.exponential_decay(BASE_LR, global_step, DECAY_STEPS,
                                                             DECAY_RATE)
        rec.endpoint("learning_rate", learning_rate)
        rec.endpoint("loss", loss)
        train = tf.compat.v1.train.GradientDescentOptimizer(learning_rate).minimize(
            loss, global_step=global_step)
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(_base.STEPS):
            sess.run([train, loss])
            rec.snapshot_variables()
            rec.next_step()


def run_b(rec: Any, fault: bool = True) -> None:
    import keras
    import tensorflow as tf

    import tftrace

    dense = keras.layers.Dense(2, name="dense")
    dense.build((None, X.shape[1]))
    schedule = keras.optimizers.schedules.ExponentialDecay(BASE_LR, DECAY_STEPS, DECAY_RATE)
    optimizer = keras.optimizers.SGD(float(schedule(0)) if fault else schedule)
    optimizer.build(dense.trainable_variables)
    x, y = tf.constant(X), tf.constant(Y)

    @tf.function
    def step() -> None:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(dense(x) - y))
        tftrace.endpoint("learning_rate", tf.convert_to_tensor(optimizer.learning_rate))
        tftrace.endpoint("loss", loss)
        grads = tape.gradient(loss, dense.trainable_variables)
        optimizer.apply_gradients(zip(grads, dense.trainable_variables))

    for _ in range(_base.STEPS):
        step()
        rec.snapshot_variables()
        rec.next_step()


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: bool = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source)
