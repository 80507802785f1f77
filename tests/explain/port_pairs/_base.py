"""Building blocks shared by the pair programs: fixed data, a TF1 Session training
loop and a TF2 (eager or ``tf.function``) training loop that record the same events
in the same order: per step, the endpoints (computed before the update), then a
snapshot of every variable after the update, then ``next_step``.
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401  (environment before TensorFlow)

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from typing import Any, Callable, Mapping  # noqa: E402

import numpy as np  # noqa: E402

STEPS = 3


def images(batch: int = 4, size: int = 6, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, size, size, channels), dtype=np.float32)


def features(batch: int = 8, width: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, width)).astype(np.float32)


def labels(batch: int, classes: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, size=batch).astype(np.int64)


def session_train(rec: Any, build: Callable[[], tuple[Mapping[str, Any], Any]],
                  optimizer: Callable[[], Any] | None, steps: int = STEPS,
                  config: Any = None) -> None:
    """TF1: ``build()`` returns (endpoints, loss) in a fresh graph; ``optimizer()`` a
    ``tf.compat.v1.train`` optimizer (None: forward only, one run per step)."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph, config=config) as sess:
        endpoints, loss = build()
        for name, value in endpoints.items():
            rec.endpoint(name, value)
        fetches: list[Any] = [loss]
        if optimizer is not None:
            update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
            with tf.control_dependencies(update_ops):
                # no global_step: the TF2 sides have no step counter to pair it with
                fetches.append(optimizer().minimize(loss))
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(steps):
            sess.run(fetches)
            rec.snapshot_variables()
            rec.next_step()


def tf2_train(rec: Any, forward: Callable[[], tuple[Mapping[str, Any], Any]],
              variables: Callable[[], list[Any]], optimizer: Any | None,
              steps: int = STEPS, function: bool = True,
              apply: Callable[[list[Any], list[Any]], None] | None = None) -> None:
    """TF2: ``forward()`` returns (endpoints, loss), recorded in that order; gradients
    with ``tf.GradientTape``; ``optimizer.apply_gradients`` (or ``apply``); one
    ``tf.function`` per step unless ``function=False``. Variables must exist before
    the first step (build models eagerly first)."""
    import tensorflow as tf

    import tftrace

    def step() -> Any:
        with tf.GradientTape() as tape:
            endpoints, loss = forward()
        for name, value in endpoints.items():
            tftrace.endpoint(name, value)
        if optimizer is None and apply is None:
            return loss
        trainable = variables()
        grads = tape.gradient(loss, trainable)
        if apply is not None:
            apply(grads, trainable)
        elif optimizer is not None:
            optimizer.apply_gradients(zip(grads, trainable))
        return loss

    run = tf.function(step) if function else step
    for _ in range(steps):
        run()
        rec.snapshot_variables()
        rec.next_step()


def sgd_apply(learning_rate: float) -> Callable[[list[Any], list[Any]], None]:
    """Plain SGD by hand (``var -= lr * grad``): no optimizer state to pair."""

    def apply(grads: list[Any], trainable: list[Any]) -> None:
        for var, grad in zip(trainable, grads):
            var.assign_sub(learning_rate * grad)

    return apply


def in_subprocess(module_file: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
    """Run ``python module_file args...`` with extra environment variables; raise on failure."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join([common.HERE, full_env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, module_file, *args], env=full_env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{module_file} {args} failed:\n{done.stderr[-3000:]}")
