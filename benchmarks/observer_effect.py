"""Does recording change what the program computes? Counted, bit for bit.

    .venv/bin/python benchmarks/observer_effect.py                  # this checkout's tftrace
    .venv/bin/python benchmarks/observer_effect.py --tftrace /path  # another checkout (before/after)

Each program runs in a fresh process twice, without tftrace and inside
``tftrace.record(seed_mode="off")`` with endpoints on intermediate values, once with
oneDNN's optimizations off and once on (``TF_ENABLE_ONEDNN_OPTS``); the script prints
how many of the program's result values differ between the two runs. Programs:

* ``function-fold``: ``(x * 0.1) * 3.0`` in a tf.function, endpoint on ``x * 0.1``
  (Grappler folds the constants when nothing else needs ``x * 0.1``); 1000 values.
* ``session-fold``: the same in a TF1 Session (the endpoint is an extra fetch).
* ``keras-logits``: a Keras 3 training step in a tf.function with
  ``tftrace.endpoint("logits", logits)``; 50 losses.
* ``dense-preactivation``: a dense layer's pre-activation (``x @ w + b``, before the
  ReLU Grappler fuses into the MatMul) observed in a training step; 50 losses.

After each program: the endpoint events the trace holds and the observations tftrace
left out (``observer-effect``), which older tftrace versions do not report.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ("function-fold", "session-fold", "keras-logits", "dense-preactivation")

CHILD = r'''
import sys
import numpy as np
import tensorflow as tf
import tftrace
program, observe, out, trace = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
x = np.random.default_rng(0).random(1000, dtype=np.float32)

def endpoint(name, value):
    if observe:
        tftrace.endpoint(name, value)

def function_fold():
    @tf.function
    def f(v):
        a = v * 0.1
        endpoint("a", a)
        return a * 3.0
    return f(x).numpy()

def session_fold():
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        v = tf.compat.v1.placeholder(tf.float32, x.shape)
        a = v * 0.1
        endpoint("a", a)
        return sess.run(a * 3.0, {v: x})

def keras_logits():
    import keras
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data, labels = rng.random((256, 32), dtype=np.float32), rng.integers(0, 10, 256)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            endpoint("logits", logits)
            loss = loss_fn(yb, logits)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        return loss
    return np.array([step(data[i % 8 * 32:][:32], labels[i % 8 * 32:][:32]).numpy()
                     for i in range(50)])

def dense_preactivation():
    rng = np.random.default_rng(0)
    data, target = rng.random((64, 32), dtype=np.float32), rng.random((64, 1), dtype=np.float32)
    w1 = tf.Variable(rng.standard_normal((32, 64), dtype=np.float32) * 0.2)
    b1 = tf.Variable(np.zeros(64, np.float32))
    w2 = tf.Variable(rng.standard_normal((64, 1), dtype=np.float32) * 0.2)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            z = tf.nn.bias_add(tf.matmul(data, w1), b1)
            endpoint("z", z)
            loss = tf.reduce_mean(tf.square(tf.matmul(tf.nn.relu(z), w2) - target))
        for v, g in zip((w1, b1, w2), tape.gradient(loss, [w1, b1, w2])):
            v.assign_sub(0.05 * g)
        return loss
    return np.array([step().numpy() for _ in range(50)])

run = {"function-fold": function_fold, "session-fold": session_fold,
       "keras-logits": keras_logits, "dense-preactivation": dense_preactivation}[program]
if observe:
    with tftrace.record(trace, seed_mode="off", overwrite=True):
        values = run()
    recorded = tftrace.open(trace)
    left_out = [g for g in recorded.environment.get("not_captured", [])
                if g["reason"] == "observer-effect"]
    kept = len([e for e in recorded.events if e.kind == "endpoint"])
    with open(out + ".txt", "w") as note:
        note.write(f"{kept} endpoint events, {len(left_out)} observations left out")
else:
    values = run()
np.save(out, values)
'''


def run(program: str, observe: bool, onednn: str, tftrace_path: Path,
        work: Path) -> tuple[np.ndarray, str]:
    out = work / f"{program}-{int(observe)}-{onednn}.npy"
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(tftrace_path))
    # cwd: with ``-c`` the current directory comes first on sys.path, before PYTHONPATH
    subprocess.run([sys.executable, "-c", CHILD, program, str(int(observe)), str(out),
                    str(work / f"{program}.zarr")], env=env, check=True, cwd=work,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    note = Path(str(out) + ".txt")
    return np.load(out), note.read_text() if note.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tftrace", type=Path, default=ROOT,
                        help="checkout whose tftrace records (default: this one)")
    parser.add_argument("programs", nargs="*", default=list(PROGRAMS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"tftrace from {args.tftrace.resolve()}")
        print(f"{'program':<22}{'oneDNN':>7}  values changed by recording")
        for program in args.programs:
            for onednn in ("0", "1"):
                plain, _ = run(program, False, onednn, args.tftrace, Path(tmp))
                recorded, note = run(program, True, onednn, args.tftrace, Path(tmp))
                changed = int((plain != recorded).sum())
                worst = float(np.max(np.abs(plain - recorded))) if changed else 0.0
                print(f"{program:<22}{'on' if onednn == '1' else 'off':>7}  {changed} of "
                      f"{plain.size}" + (f" (max abs difference {worst:.3g})" if changed else "")
                      + f"; {note}", flush=True)


if __name__ == "__main__":
    main()
