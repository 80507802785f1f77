"""Recording against a trace (``record(..., against=A)``): B's size and recording time side by
side with a full and a statistics-only recording of the same run, and an offline diff.

A small Keras CNN (two convolutions, a dense layer) trains eagerly for ``--steps`` steps,
with layer outputs, gradients and optimizer hyperparameters captured. In one process,
over ``--rounds`` interleaved rounds (best time of each variant kept), it runs:

- ``off``: no recording;
- ``stats``: ``capture="stats"``, every stream at ``stats`` (statistics and digests);
- ``full``: ``capture="full"``, every stream at ``full`` (A, the reference, is the first
  round's full trace);
- ``against``: recorded against A (an equivalent run: values kept only where it diverges),
  the training loop alone, and with the final ``diff(A, B)``;
- ``offline diff``: ``diff(A, full B)``, what the two-recordings workflow costs after the runs.

Prints sizes (B vs full, target <= 2%) and times (against vs stats, target <= 1.3x).

    .venv/bin/python benchmarks/against.py [--steps 20] [--rounds 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tftrace  # noqa: E402
from tftrace.against import AgainstOptions, record_against  # noqa: E402
from tftrace.recording.capture.sink import CaptureLevels  # noqa: E402
from tftrace.recording.recorder import record  # noqa: E402

FULL = CaptureLevels(layers="full", gradients="full", optimizer="full")
STATS = CaptureLevels(layers="stats", gradients="stats", optimizer="stats")


def train(steps: int) -> None:
    tf.keras.backend.clear_session()  # the same layer and variable names every run
    tf.random.set_seed(3)
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        tf.keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
        tf.keras.layers.GlobalAveragePooling2D(name="pool"),
        tf.keras.layers.Dense(10, name="logits")], name="cnn")
    optimizer = tf.keras.optimizers.SGD(0.01)
    x = tf.constant(np.random.default_rng(0).random((32, 32, 32, 3), dtype=np.float32))
    y = tf.constant(np.arange(32) % 10)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        tftrace.endpoint("loss", loss)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        tftrace.next_step()


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def timed(block, steps: int) -> float:
    start = time.perf_counter()
    if block is None:
        train(steps)
    else:
        with block:
            train(steps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="tftrace-against-", dir=args.dir))
    try:
        a = where / "a.zarr"
        timed(record(a, levels=FULL), args.steps)  # the reference, A
        times: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        verdicts = []
        for _ in range(args.rounds):
            for name, path, block in (
                    ("off", None, None),
                    ("stats", where / "stats.zarr", lambda p: record(p, capture="stats", levels=STATS,
                                                                     overwrite=True)),
                    ("full", where / "full.zarr", lambda p: record(p, levels=FULL, overwrite=True))):
                times.setdefault(name, []).append(timed(block(path) if block else None, args.steps))
                if path is not None:
                    sizes[name] = size_of(path)
            options = AgainstOptions(a, report=None)
            b = where / "b.zarr"
            start = time.perf_counter()
            with record_against(b, options, overwrite=True, levels=FULL) as rec:
                loop_start = time.perf_counter()
                train(args.steps)
                loop = time.perf_counter() - loop_start
            total = time.perf_counter() - start
            times.setdefault("against (loop)", []).append(loop)
            times.setdefault("against (+ final diff)", []).append(total)
            verdicts.append(rec.against.result.equivalent)
            sizes["against"] = size_of(b)
            start = time.perf_counter()
            offline = tftrace.diff(a, where / "full.zarr")
            times.setdefault("offline diff (A, full B)", []).append(time.perf_counter() - start)
            verdicts.append(offline.equivalent)
        best = {name: min(values) for name, values in times.items()}
        print(f"steps {args.steps}, rounds {args.rounds}, all equivalent: {all(verdicts)}")
        print(f"{'variant':28} {'best s':>8} {'range s':>16} {'/ stats':>8} {'size MB':>9} {'/ full':>8}")
        size_key = {"stats": "stats", "full": "full", "against (loop)": "against"}
        for name, values in times.items():
            size = sizes.get(size_key.get(name, ""), None)
            print(f"{name:28} {best[name]:8.3f} {min(values):7.3f}-{max(values):<8.3f} "
                  f"{best[name] / best['stats']:8.2f} "
                  + (f"{size / 1e6:9.2f} {size / sizes['full']:8.2%}" if size is not None else ""))
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
