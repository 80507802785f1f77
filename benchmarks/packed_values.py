"""Op capture with full values on a small conv net: the recorded step against the plain one.

A Keras 3 training step in a ``tf.function`` (BLOCKS x Conv2D-BatchNorm-ReLU, 16 images of
SIZE x SIZE), recorded with ``ops="full"`` (the other streams off); per round 3 plain and 3
recorded steps, alternating which goes first. Prints one line: the plain step, the ratio
per round, op events and stored value MB per step, MB written per step and the files of
the trace. Run it with the tree to measure on ``PYTHONPATH`` (before and after side by side):

    PYTHONPATH=<tree> .venv/bin/python benchmarks/packed_values.py [--rounds 3] [--raw] [--level N]

``--raw``: every value stored uncompressed (the sample rule switched off), to read what
compressing costs; ``--level N``: the values compressed at zstd level N.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw", action="store_true", help="store every value uncompressed")
    parser.add_argument("--level", type=int, default=None,
                        help="zstd level of the compressed values (default: the writer's; any decodes)")
    parser.add_argument("--tag", default="", help="a label for the line (before, after...)")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    import tftrace
    from tftrace.format import chunkio

    if args.level is not None:
        import numcodecs
        chunkio._ZSTD = numcodecs.Zstd(level=args.level)
    if args.raw:
        chunkio.should_compress = lambda flat: False  # type: ignore[assignment]
        chunkio.compressed_if_worth = lambda flat: None  # type: ignore[assignment]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((args.size, args.size, 3))
    h = inputs
    for k in range(args.blocks):
        h = keras.layers.Conv2D(32, 3, padding="same", name=f"conv{k}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{k}")(h)
        h = keras.layers.ReLU(name=f"relu{k}")(h)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(h)))
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.constant(np.random.default_rng(0).random((16, args.size, args.size, 3), dtype=np.float32))
    y = tf.constant(np.arange(16) % 10)

    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    plain = tf.function(step)
    plain(x, y)
    scratch = tempfile.mkdtemp(prefix="tftrace-packed-values-")
    path = os.path.join(scratch, "t.zarr")
    ratios, steps, plain_s = [], 0, 0.0
    try:
        with tftrace.record(path, seed_mode="off", layers="off", ops="full", gradients="off",
                            optimizer="off") as rec:
            recorded = tf.function(step)
            recorded(x, y).numpy()  # traces the function and runs the observer-effect check
            rec.next_step()
            steps += 1
            for r in range(args.rounds):
                times = {}
                for name, fn in ([("plain", plain), ("recorded", recorded)] if r % 2 == 0
                                 else [("recorded", recorded), ("plain", plain)]):
                    start = time.perf_counter()
                    for _ in range(3):
                        fn(x, y).numpy()
                        if fn is recorded:
                            rec.next_step()
                            steps += 1
                    times[name] = (time.perf_counter() - start) / 3
                ratios.append(round(times["recorded"] / times["plain"], 2))
                plain_s = times["plain"]
        with tftrace.open(path) as trace:
            events = [e for e in trace.events if e.kind == "op"]
            stored = sum(int(np.prod(e.shape)) * np.dtype(np.uint16 if e.dtype == "bfloat16" else e.dtype).itemsize
                         for e in events if e.stored and e.dtype != "string")
        written = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(path) for n in names)
        files = sum(len(names) for _, _, names in os.walk(path))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f} {args.tag}{' raw' if args.raw else ''}"
          f"{'' if args.level is None else f' level {args.level}'}: "
          f"plain {plain_s * 1e3:.1f} ms; ops=full ratios {ratios}; op events/step {len(events) / steps:.0f}; "
          f"values MB/step {stored / steps / 1e6:.1f}; written MB/step {written / steps / 1e6:.1f}; "
          f"files {files}", flush=True)


if __name__ == "__main__":
    main()
