"""Recording and replay overhead on a tf-slim net's training steps (forward + backward),
side by side.

Runs the same steps with recording off, with ``capture="stats"``, with
``capture="full"``, and with ``capture="full"`` under ``tftrace.replay`` of the
"full" trace of the same round (every random value and initial weight fed from it),
in a TF1 Session and eagerly through the ``track_tf1_style_variables`` shim,
interleaving the variants over several rounds and keeping each variant's best time.
Prints the ratios to "off", and replay's ratio to "full" (the same recorded run
without replay).

    .venv/bin/python benchmarks/record_overhead.py [--net inception_v1] [--steps 10] [--rounds 3]

Every step records what a user would: the dropout random values, the logits and
the loss endpoints; the initializer run (variable initial values) is timed apart.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_slim as slim  # noqa: E402
from tf_slim.nets import inception_v1, resnet_v1  # noqa: E402

import tftrace  # noqa: E402
from tftrace.recording.imports import alias_legacy_tf_layers  # noqa: E402

NETS = {
    "inception_v1": (lambda x, t: inception_v1.inception_v1(x, num_classes=10, is_training=t),
                     lambda: inception_v1.inception_v1_arg_scope(use_batch_norm=False), 224),
    "resnet_v1_50": (lambda x, t: resnet_v1.resnet_v1_50(x, num_classes=10, is_training=t),
                     resnet_v1.resnet_arg_scope, 64),
}


def session_steps(net: str, steps: int, batch: int) -> tuple[float, float]:
    fn, scope, size = NETS[net]
    images = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    labels = np.arange(batch) % 10
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        with slim.arg_scope(scope()):
            logits, _ = fn(tf.constant(images), True)
        logits = tf.reshape(logits, (batch, 10))
        loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
        train = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(loss)
        tftrace.endpoint("logits", logits)
        tftrace.endpoint("loss", loss)
        start = time.perf_counter()
        sess.run(tf.compat.v1.global_variables_initializer())
        init = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            sess.run(train)
            _next_step()
        return init, time.perf_counter() - start


def eager_steps(net: str, steps: int, batch: int) -> tuple[float, float]:
    fn, scope, size = NETS[net]
    images = tf.constant(np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32))
    labels = tf.constant(np.arange(batch) % 10)

    class SlimNet(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, inputs, training=False):
            with slim.arg_scope(scope()):
                return tf.reshape(fn(inputs, training)[0], (batch, 10))

    layer = SlimNet()
    optimizer = tf.keras.optimizers.SGD(0.01)
    start = time.perf_counter()
    layer(images, training=True)  # builds (creates and initializes) the variables
    init = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        with tf.GradientTape() as tape:
            logits = layer(images, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))
        tftrace.endpoint("logits", logits)
        tftrace.endpoint("loss", loss)
        _next_step()
    return init, time.perf_counter() - start


_recorder = None


def _next_step() -> None:
    if _recorder is not None:
        _recorder.next_step()


def measure(variant: str, program, net: str, steps: int, batch: int, directory: str):
    global _recorder
    path = os.path.join(directory, f"{variant}.zarr")
    shutil.rmtree(path, ignore_errors=True)
    if variant == "off":
        context: contextlib.AbstractContextManager = contextlib.nullcontext()
    elif variant == "replay":
        context = tftrace.replay(os.path.join(directory, "full.zarr"), record_to=path)
    else:
        context = tftrace.record(path, capture=variant)
    with context as recorder:
        _recorder = recorder
        try:
            return program(net, steps, batch)
        finally:
            _recorder = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=sorted(NETS), default="inception_v1")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    alias_legacy_tf_layers()
    print(f"tensorflow {tf.__version__}, net {args.net}, batch {args.batch}, "
          f"{args.steps} training steps, best of {args.rounds} interleaved rounds")
    variants = ("off", "stats", "full", "replay")  # replay reads the "full" trace just made
    with tempfile.TemporaryDirectory() as directory:
        for label, program in (("session", session_steps), ("eager shim", eager_steps)):
            for variant in variants:  # warm-up: first-call costs (kernels, imports, tracing)
                measure(variant, program, args.net, 1, args.batch, directory)
            best = {v: (float("inf"), float("inf")) for v in variants}
            for _ in range(args.rounds):
                for variant in variants:
                    init, steps = measure(variant, program, args.net, args.steps, args.batch,
                                          directory)
                    best[variant] = (min(best[variant][0], init), min(best[variant][1], steps))
            off_init, off_steps = best["off"]
            print(f"\n{label}:")
            print(f"  {'variant':<8}{'steps s':>10}{'ratio':>8}{'init s':>10}{'ratio':>8}")
            for variant in variants:
                init, steps = best[variant]
                print(f"  {variant:<8}{steps:>10.3f}{steps / off_steps:>7.2f}x"
                      f"{init:>10.3f}{init / off_init:>7.2f}x")
            full_steps, replay_steps = best["full"][1], best["replay"][1]
            print(f"  replay vs full (same recorded run without replay): steps "
                  f"{replay_steps / full_steps:.2f}x, init {best['replay'][0] / best['full'][0]:.2f}x")


if __name__ == "__main__":
    main()
