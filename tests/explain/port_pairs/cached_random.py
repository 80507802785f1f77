"""``cached-random`` (and ``stale``): random values that should change every step do not.

A: TF1 Session: Gaussian input noise ``tf.random.normal`` (a new draw in every
   ``Session.run``) added to the features, ``tf.compat.v1.layers.dense``, GradientDescent,
   3 steps; endpoints ``noise``, ``loss``.
B: Keras 3 ``Dense`` trained by a tape + hand SGD in a ``tf.function``, A's initial weights
   (and random values) by replay. The noise is
   - fault=True or "outside": ``tf.random.normal`` drawn once, eagerly, before the loop and
     captured by the function (one random op in step 0, none later);
   - "stateless": ``tf.random.stateless_normal(seed=[1, 2])`` in the function (a random op
     every step, with the same values every step);
   - "numpy": ``np.random.normal`` inside the function: evaluated once at tracing and baked
     into the graph as a constant (no random op at all);
   - fault=False: ``tf.random.normal`` inside the function (a new draw each execution).

Evidence: A has one random op per step, B ("outside") one in step 0 only, ("numpy") none;
B's ``noise`` endpoint is the same at every step (stale). Under replay the "stateless"
variant takes A's values each step and looks correct: only a recording without replay (or a
one-trace check of equal values across steps) shows it.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("cached-random", "stale")
LR, SIGMA = 0.1, 0.1
X = _base.features(8, 6, seed=0)
Y = _base.features(8, 2, seed=1)


def run_a(rec: Any) -> None:
    import tensorflow as tf

    def build() -> Any:
        noise = SIGMA * tf.random.normal(X.shape)
        out = tf.compat.v1.layers.dense(tf.constant(X) + noise, 2, name="dense")
        loss = tf.reduce_mean(tf.square(out - Y))
        return {"noise": noise, "loss": loss}, loss

    _base.session_train(rec, build, lambda: tf.compat.v1.train.GradientDescentOptimizer(LR))


def run_b(rec: Any, fault: Any = True) -> None:
    import keras
    import tensorflow as tf

    dense = keras.layers.Dense(2, name="dense")
    dense.build((None, X.shape[1]))
    x, y = tf.constant(X), tf.constant(Y)
    mode = {True: "outside", False: "inside"}.get(fault, fault)
    cached = SIGMA * tf.random.normal(X.shape) if mode == "outside" else None

    def noise() -> Any:
        if mode == "outside":
            return cached
        if mode == "stateless":
            return SIGMA * tf.random.stateless_normal(X.shape, seed=[1, 2])
        if mode == "numpy":
            return tf.constant(SIGMA * np.random.default_rng().normal(size=X.shape), tf.float32)
        return SIGMA * tf.random.normal(X.shape)

    def forward() -> Any:
        drawn = noise()
        loss = tf.reduce_mean(tf.square(dense(x + drawn) - y))
        return {"noise": drawn, "loss": loss}, loss

    def trainable() -> list[Any]:
        return dense.trainable_variables

    _base.tf2_train(rec, forward, trainable, None, apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, run_a)


def record_b(path: str, source: str | None = None, fault: Any = True) -> str:
    return common.record(path, lambda rec: run_b(rec, fault), source)
