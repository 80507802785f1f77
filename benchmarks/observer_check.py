"""Where the first call of a recorded training step goes: the observer-effect check.

A mid-size Keras 3 net (inverted-residual blocks as in MobileNetV2: 1x1 conv, depthwise
3x3, 1x1 conv, batch norms, ReLU6, residual add) trained in a ``tf.function`` at
``ops=stats``. The first call traces the step, builds the statistics ops of every op
output (summaries.py) and runs the observer-effect check (neutrality.py), which
optimizes the step with Grappler, plain and with the observations. This prints the first
call's seconds and, per phase, the time spent in the check: preparing the graph, each
Grappler optimization (with how many observations it held and how many nodes it had),
adding the probes, the digests; then one more step against the same step unrecorded
(bit-equal losses and variables) and the check's counts.

    python benchmarks/observer_check.py [--blocks 4] [--size 16] [--batch 8]

Run it with ``PYTHONPATH=<another tree>`` to time that tree's check the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from typing import Any, Callable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=4, help="inverted-residual blocks")
    parser.add_argument("--size", type=int, default=16, help="input height and width")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    import tftrace
    from tftrace.format.reader import open_trace
    from tftrace.recording import neutrality, observers
    from tftrace.recording.summaries import SUMMARY_SCOPE

    def build() -> tuple[Any, Callable[[], Any], list[Any]]:
        keras.utils.set_random_seed(0)
        c = args.channels
        inputs = keras.Input((args.size, args.size, c))
        h = inputs
        for k in range(args.blocks):
            y = keras.layers.Conv2D(4 * c, 1, use_bias=False, name=f"expand{k}")(h)
            y = keras.layers.BatchNormalization(name=f"expand_bn{k}")(y)
            y = keras.layers.ReLU(6.0, name=f"expand_relu{k}")(y)
            y = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{k}")(y)
            y = keras.layers.BatchNormalization(name=f"dw_bn{k}")(y)
            y = keras.layers.ReLU(6.0, name=f"dw_relu{k}")(y)
            y = keras.layers.Conv2D(c, 1, use_bias=False, name=f"project{k}")(y)
            y = keras.layers.BatchNormalization(name=f"project_bn{k}")(y)
            h = keras.layers.Add(name=f"add{k}")([h, y])
        h = keras.layers.GlobalAveragePooling2D()(h)
        model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h), name="net")
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        rng = np.random.default_rng(0)
        x = tf.constant(rng.random((args.batch, args.size, args.size, c), dtype=np.float32))
        y_true = tf.constant(np.arange(args.batch) % 10)

        @tf.function
        def step() -> Any:
            with tf.GradientTape() as tape:
                loss = loss_fn(y_true, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        return model, step, optimizer

    phases: dict[str, list[float]] = defaultdict(list)
    optimizations: list[dict[str, Any]] = []

    def timed(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*a: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                phases[label].append(time.perf_counter() - start)
        setattr(owner, name, wrapper)

    optimize = neutrality._optimize

    def timed_optimize(graph_def: Any, fetches: Any, observations: Any = (), *a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        out = optimize(graph_def, fetches, observations, *a, **kw)
        nodes = {node.name: node for node in graph_def.node}
        statistics = sum(1 for name in observations
                         if name in nodes and SUMMARY_SCOPE in nodes[name].input[0])
        optimizations.append({"observations": len(observations), "statistics": statistics,
                              "nodes": len(graph_def.node),
                              "s": round(time.perf_counter() - start, 2)})
        return out

    neutrality._optimize = timed_optimize
    timed(neutrality, "_prepared", "prepared")
    timed(neutrality, "_with_probes", "with_probes")
    timed(neutrality, "computation", "computation")
    try:  # the search's module (older trees have it in neutrality.py)
        from tftrace.recording import culprits as search
    except ImportError:
        search = neutrality
    else:
        timed(search, "computation", "computation")
    timed(search, "node_digests", "node_digests")
    timed(neutrality.NeutralityCheck, "changing", "check")
    timed(observers, "summary_vector", "statistics ops")

    tmp = tempfile.mkdtemp(prefix="observer_check_", dir=args.tmp)
    try:
        model, plain_step, optimizer = build()
        plain_losses = [float(plain_step().numpy()) for _ in range(2)]
        plain_vars = [v.numpy() for v in model.variables + optimizer.variables]
        model, step, optimizer = build()
        path = os.path.join(tmp, "t.zarr")
        with tftrace.record(path, seed_mode="off", layers="off", ops="stats", gradients="off",
                            optimizer="off") as rec:
            start = time.perf_counter()
            losses = [float(step().numpy())]
            first_call = time.perf_counter() - start
            rec.next_step()
            losses.append(float(step().numpy()))
        recorded_vars = [v.numpy() for v in model.variables + optimizer.variables]
        trace = open_trace(path)
        check = trace.environment["observer_check"]
        result = {
            "first_call_s": round(first_call, 1),
            "check_s": round(sum(phases["check"]), 1),
            "phases_s": {k: round(sum(v), 2) for k, v in phases.items()},
            "calls": {k: len(v) for k, v in phases.items()},
            "graphs": per_graph(optimizations),
            "optimizations": optimizations,
            "loss_equal": losses == plain_losses,
            "vars_differing": sum(not np.array_equal(a, b) for a, b in zip(plain_vars, recorded_vars)),
            "op_events_step0": sum(1 for e in trace.events if e.kind == "op" and e.step == 0),
            "check": check,
            "load": os.getloadavg(),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))


def per_graph(optimizations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per graph checked (each starts with its plain optimization): seconds of the plain
    optimization, and count and seconds of those with the values alone and with their
    statistics."""
    graphs: list[dict[str, Any]] = []
    for o in optimizations:
        if o["observations"] == 0:
            graphs.append({"plain_s": o["s"], "with_values": [0, 0.0], "with_statistics": [0, 0.0]})
            continue
        part = graphs[-1]["with_statistics" if o["statistics"] else "with_values"]
        part[0] += 1
        part[1] = round(part[1] + o["s"], 2)
    return graphs


if __name__ == "__main__":
    main()
