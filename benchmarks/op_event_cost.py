"""Host cost of one op event at ``ops=stats`` in a ``tf.function``, on a small net.

In a ``tf.function`` the statistics of every observed op output are computed in the
graph; the host receives a few numbers per output and turns each into an ``op`` event
(statistics, edges to the events of the op's inputs, one log record). This prints the
host time per op event (the observers' final call, which writes the events, timed around
it: wall time, and the CPU time of its thread, which load from other processes does
not inflate), and three steps side by side in one process: the plain step, the step recorded at
``ops=stats``, and the same recorded step whose host call drops the statistics instead
of writing them (what the in-graph statistics and the copies cost alone).

    python benchmarks/op_event_cost.py [--blocks 2] [--steps 20] [--rounds 3] [--stages]

``--stages``: where the host time per op event goes, in the same process: the CPU time of
the writing call with the host path cut at successive points (each op's ``on_value``, or
the batch of a run of op events, reached but writing nothing; the writer reached but
writing nothing; the writer without packing the records; the whole path), rounds
alternating the order.

Small enough to iterate on (a few seconds per round, plus the first call: tracing and
the observer-effect check); the MobileNetV2 figures are benchmarks/op_capture.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2, help="conv + batch norm + relu blocks")
    parser.add_argument("--steps", type=int, default=20, help="steps per round and variant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    parser.add_argument("--stages", action="store_true", help="the host path cut at each stage")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    import tftrace
    from tftrace.recording import independent
    from op_capture import time_host_calls  # this folder's script

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    h = inputs
    for k in range(args.blocks):
        h = keras.layers.Conv2D(8, 3, padding="same", name=f"conv{k}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{k}")(h)
        h = keras.layers.ReLU(name=f"relu{k}")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.constant(np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32))
    y = tf.constant(np.arange(4) % 10)

    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    # The observers' final call: timed (it writes the events), or dropping what it holds.
    host = time_host_calls()
    plain = tf.function(step)
    plain(x, y).numpy()
    tmp = tempfile.mkdtemp(prefix="op_event_cost_", dir=args.tmp)
    result: dict[str, Any] = {"blocks": args.blocks}
    try:
        with tftrace.record(os.path.join(tmp, "t.zarr"), seed_mode="off", layers="off",
                            ops="stats", gradients="off", optimizer="off") as rec:
            observed = tf.function(step)
            start = time.perf_counter()
            observed(x, y).numpy()
            rec.next_step()
            result["first_call_s"] = round(time.perf_counter() - start, 1)
            written = rec.written()
            events0 = written.done if written is not None else 0

            def run(name: str) -> float:
                host["drop"] = name == "dropped"
                fn = plain if name == "plain" else observed
                start = time.perf_counter()
                for _ in range(args.steps):
                    fn(x, y).numpy()
                    if name != "plain":
                        rec.next_step()
                return (time.perf_counter() - start) / args.steps

            steps: dict[str, list[float]] = {"plain": [], "ops=stats": [], "dropped": []}
            host_per_event, cpu_per_event = [], []
            for r in range(args.rounds):
                names = list(steps) if r % 2 == 0 else list(steps)[::-1]
                for name in names:
                    host["s"] = host["cpu"] = 0.0
                    before = rec.written()
                    steps[name].append(run(name))
                    after = rec.written()
                    if name == "ops=stats" and before is not None and after is not None:
                        host_per_event.append(host["s"] / max(1, after.done - before.done))
                        cpu_per_event.append(host["cpu"] / max(1, after.done - before.done))
            host["drop"] = False
            final = rec.written()
            events = (final.done if final is not None else 0) - events0
            result["op_events_per_step"] = events // (args.steps * args.rounds)
            if args.stages:
                independent._Buffer.flush = host["original"]  # type: ignore[method-assign]
                result["stages_cpu_us_per_op_event"] = stages(args, observed, x, y, rec,
                                                              result["op_events_per_step"])
        result["host_us_per_op_event"] = [round(v * 1e6, 1) for v in host_per_event]
        result["host_cpu_us_per_op_event"] = [round(v * 1e6, 1) for v in cpu_per_event]
        result["plain_step_ms"] = [round(v * 1e3, 2) for v in steps["plain"]]
        for name in ("ops=stats", "dropped"):
            result[f"{name}_ratio"] = [round(o / p, 2) for o, p in zip(steps[name], steps["plain"])]
    finally:
        independent._Buffer.flush = host["original"]  # type: ignore[method-assign]
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))
    med = statistics.median
    print(f"op events per step {result['op_events_per_step']}; host us per op event "
          f"{med(result['host_us_per_op_event']):.1f} (rounds {result['host_us_per_op_event']}; "
          f"CPU time of the writing thread {med(result['host_cpu_us_per_op_event']):.1f}); "
          f"plain step {med(result['plain_step_ms']):.1f} ms; ops=stats "
          f"{med(result['ops=stats_ratio']):.2f}x, statistics computed and dropped "
          f"{med(result['dropped_ratio']):.2f}x")
    for name, values in result.get("stages_cpu_us_per_op_event", {}).items():
        print(f"  host path {name:34s} CPU us per op event {med(values):5.1f} (rounds {values})")


#: Where the host path of an op event is cut (``--stages``), in path order.
STAGES = ("to each op's on_value", "to the writer", "writer, records not packed", "whole path")


def stages(args: argparse.Namespace, observed: Any, x: Any, y: Any, rec: Any,
           events_per_step: int) -> dict[str, list[float]]:
    """CPU time per op event of the writing call, the host path cut at each of ``STAGES``
    (per op event of a whole step: the observers' buffer holds one statistics vector per
    graph, not one value per op, and a cut path writes none)."""
    from tftrace.format import writer as writer_module
    from tftrace.format.prepared import PreparedEvent
    from tftrace.format.writer import TraceWriter
    from tftrace.recording import independent
    from tftrace.recording.emitting import PreparedBatch, PreparedEmitter

    # each cut on both paths: per event (PreparedEmitter...), and by batches (PreparedBatch...)
    cuts = {"to each op's on_value": [(PreparedEmitter, "__call__", lambda self, value, values: None),
                                      (PreparedBatch, "__call__", lambda self, *a: 0)],
            "to the writer": [(TraceWriter, "add_prepared", lambda self, *a: 0),
                              (TraceWriter, "add_prepared_batch", lambda self, *a: 0)],
            "writer, records not packed": [(PreparedEvent, "record", lambda self, *a: b""),
                                           (writer_module, "spliced_records",
                                            lambda events, *a: [b""] * len(events))]}
    originals = {(owner, attribute): getattr(owner, attribute)
                 for cut in cuts.values() for owner, attribute, _ in cut}
    flush = independent._Buffer.flush
    cpu = {"s": 0.0}

    def timed_flush(buffer: Any) -> None:
        start = time.thread_time()
        flush(buffer)
        cpu["s"] += time.thread_time() - start

    def restore() -> None:
        for (owner, attribute), original in originals.items():
            setattr(owner, attribute, original)

    independent._Buffer.flush = timed_flush  # type: ignore[method-assign]
    out: dict[str, list[float]] = {name: [] for name in STAGES}
    try:
        for r in range(args.rounds):
            for name in (STAGES if r % 2 == 0 else STAGES[::-1]):
                for owner, attribute, cut in cuts.get(name, []):
                    setattr(owner, attribute, cut)
                cpu["s"] = 0.0
                for _ in range(args.steps):
                    observed(x, y).numpy()
                    rec.next_step()
                out[name].append(round(cpu["s"] / max(1, events_per_step * args.steps) * 1e6, 1))
                restore()
    finally:
        restore()
        independent._Buffer.flush = flush  # type: ignore[method-assign]
    return out


if __name__ == "__main__":
    main()
