"""What the in-graph statistics of level ``stats`` cost alone, to build and to run.

A ``tf.function`` computes ``--values`` float32 values of ``--elements`` elements each
(``x * c_k``: one pass over the data each, like a cheap op of a training step) and
returns one number; three variants of it, side by side in one process, alternating:

* ``plain``: the values only;
* ``reductions``: per value Min, Max and Sum, packed (the passes over the data the
  statistics need, with nothing else: their floor);
* ``statistics``: the statistics ops tftrace adds (``recording/summaries.py``), all
  values' statistics in what reaches the host: with the one-pass kernel when the tree
  has it (``recording/statistics_kernel.py``), and then also
* ``reduced``: the same tree's statistics with the kernel switched off (TensorFlow's
  reductions, as when the kernel cannot be built).

Printed: per variant the milliseconds of a call (min-max over the rounds), the ratios to
``plain``, and the milliseconds per value of building the statistics ops while tracing.
Run it with ``PYTHONPATH`` set to a tree to measure that tree's statistics ops (before
the grouped statistics, main's ``summary_vector`` per value; it is used when present).

    python benchmarks/op_statistics_cost.py [--values 300] [--elements 65536] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=300)
    parser.add_argument("--elements", type=int, default=65536)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5, help="calls per round and variant")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    from tftrace.recording import summaries

    built: dict[str, float] = {}
    kernel = hasattr(summaries, "KERNEL")
    switch = "TFTRACE_STATISTICS_KERNEL"
    if kernel:  # built or loaded now, not while the statistics are timed
        from tftrace.recording import statistics_kernel
        assert statistics_kernel.library().op is not None, statistics_kernel.library().reason

    def statistics_of(values: list[Any], kind: str) -> Any:
        if kind == "reduced":
            os.environ[switch] = "off"
        try:
            return built_statistics(values, kind)
        finally:
            os.environ.pop(switch, None)

    def built_statistics(values: list[Any], kind: str) -> Any:
        start = time.perf_counter()
        if hasattr(summaries, "summary_vector"):  # a tree before the grouped statistics
            vectors = [summaries.summary_vector(v) for v in values]
            out = tf.concat(vectors, 0)
        else:
            graph = tf.compat.v1.get_default_graph()
            out = summaries.GraphStatistics(
                graph, [summaries.value_statistics(v) for v in values]).vector
        built[kind] = (time.perf_counter() - start) / len(values) * 1e3
        return out

    def variant(kind: str) -> Any:
        def f(x: Any) -> Any:
            values = [x * (1.0 + k * 1e-3) for k in range(args.values)]
            if kind == "plain":
                return tf.add_n([v[0] for v in values])
            if kind == "reductions":
                return tf.concat([tf.stack([tf.reduce_min(v), tf.reduce_max(v), tf.reduce_sum(v)])
                                  for v in values], 0)
            return statistics_of(values, kind)
        return tf.function(f)

    x = tf.constant(np.random.default_rng(0).random(args.elements, dtype=np.float32))
    kinds = ["plain", "reductions", "statistics"] + (["reduced"] if kernel else [])
    functions = {kind: variant(kind) for kind in kinds}
    for kind in kinds:
        functions[kind].get_concrete_function(x)  # traced: the statistics built
    for kind in kinds:
        functions[kind](x)  # optimized
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for r in range(args.rounds):
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            start = time.perf_counter()
            for _ in range(args.calls):
                functions[kind](x).numpy()
            times[kind].append((time.perf_counter() - start) / args.calls * 1e3)
    result = {"values": args.values, "elements": args.elements,
              "grouped": not hasattr(summaries, "summary_vector"),
              "statistics": "kernel" if kernel else "reductions",
              "build_ms_per_value": {k: round(v, 2) for k, v in built.items()},
              "ms": {k: [round(t, 2) for t in v] for k, v in times.items()},
              "load": os.getloadavg()[0]}
    print(json.dumps(result))
    med = statistics.median
    ratio = {k: [t / p for t, p in zip(times[k], times["plain"])] for k in kinds}
    line = f"{args.values} values of {args.elements}: plain {med(times['plain']):.1f} ms"
    for kind in kinds[1:]:
        label = {"statistics": "statistics (kernel)" if kernel else "statistics",
                 "reduced": "statistics (reductions)"}.get(kind, kind)
        line += (f"; {label} {med(ratio[kind]):.2f}x ({min(ratio[kind]):.2f}-"
                 f"{max(ratio[kind]):.2f})")
    building = ", ".join(f"{kind} {ms:.1f}" for kind, ms in built.items())
    print(f"{line}; building the statistics, ms per value: {building}")


if __name__ == "__main__":
    main()
