"""Overhead and size of layer / op / gradient / optimizer capture, beside tfdbg2, on one model.

Keras 3 MobileNetV2 (alpha 0.5, 96x96x3, 10 classes, weights=None), batch 16, SGD(0.01,
momentum 0.9): one training step (GradientTape + apply_gradients) in a ``tf.function``.

Each variant runs in its own process, which holds the plain step (traced before anything
is observed) and the observed one (traced while tftrace records, or after tfdbg2's
``enable_dump_debug_info``) over the SAME model and optimizer, and

1. checks the observer effect: from the same saved state, ``--check`` steps plain and
   ``--check`` steps observed; losses and every variable afterwards compared bit for bit;
2. times ``--rounds`` rounds of ``--steps`` steps of each, alternating which goes first,
   and prints the median and range of the per-round ratios observed / plain;
3. prints what it wrote per step (trace or tfdbg2 dump) beside the bytes of the values
   the trace holds; each worker's line also holds the process's CPU seconds per step
   (``cpu_s_per_step``, of which in the kernel ``system_s_per_step``) and its peak RSS;
4. where a variant stores values (``ops=full``), measures after the workers how fast the
   disk under ``--tmp`` takes writes (``--disk-mb`` MiB of noise written and fsynced) and
   prints the least time a step needs to write its bytes at that rate, against the plain
   step: the floor of a recording that writes those bytes on this disk, once it has written
   more than the page cache holds back (Linux writes dirty pages back from
   ``vm.dirty_background_ratio`` of memory on, 10% by default: a few GB).

    python benchmarks/op_capture.py                                   # the table
    python benchmarks/op_capture.py --variants plain,ops=stats --rounds 3 --steps 3
    python benchmarks/op_capture.py --worker ops=full                 # one worker

Variants with statistics computed in the graph (``...=stats``) also print where the
extra time goes: ``stats dropped``, the ratio of the observed step whose observers' last
call drops the statistics instead of writing them (the in-graph statistics and the
copies alone), and the host time per event of that last call (wall, and CPU time of its
thread), timed in the same process after the rounds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

#: Variants: "plain" (a second plain step: the noise floor), tftrace levels
#: ("layers=stats,ops=off" ...: unspecified streams off; "default": the defaults), tfdbg2 modes.
DEFAULT = ("plain,default,layers=stats,ops=stats,ops=full,tfdbg:NO_TENSOR,tfdbg:SHAPE,"
           "tfdbg:CONCISE_HEALTH,tfdbg:FULL_HEALTH,tfdbg:FULL_TENSOR")
STREAMS = ("layers", "ops", "gradients", "optimizer")


def levels_of(variant: str) -> dict[str, str] | None:
    """tftrace levels for a variant, or None for a non-tftrace one."""
    if variant == "default":
        return {}
    if "=" not in variant or variant.startswith("tfdbg"):
        return None
    levels = {stream: "off" for stream in STREAMS}
    for part in variant.split("+"):
        stream, _, level = part.partition("=")
        levels[stream] = level
    return levels


def dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def mobilenet() -> tuple[Any, Any, Any, Any, Any]:
    """The benchmark's model, its optimizer, a maker of its training step (a new
    ``tf.function`` at each call), and the batch (x, y)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.5, weights=None,
                                           classes=10)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((16, 96, 96, 3), dtype=np.float32))
    y = tf.constant(np.arange(16) % 10)

    def make_step() -> Any:
        def step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        return tf.function(step)

    return model, optimizer, make_step, x, y


def worker(args: argparse.Namespace) -> dict[str, Any]:
    model, optimizer, make_step, x, y = mobilenet()
    import numpy as np
    import tensorflow as tf

    import tftrace

    variant = args.worker
    plain = make_step()
    plain(x, y).numpy()  # traced and built (optimizer slots) before any observation
    variables = list(model.variables) + list(optimizer.variables)
    start_state = [v.numpy().copy() for v in variables]

    def restore() -> None:
        for v, value in zip(variables, start_state):
            v.assign(value)

    result: dict[str, Any] = {"variant": variant}
    tmp = tempfile.mkdtemp(prefix="op_capture_", dir=args.tmp)
    levels = levels_of(variant)
    recording = None
    steps_observed = 0
    try:
        if variant.startswith("tfdbg:"):
            tf.debugging.experimental.enable_dump_debug_info(
                tmp, tensor_debug_mode=variant.split(":", 1)[1], circular_buffer_size=-1)
        elif levels is not None:
            recording = tftrace.record(os.path.join(tmp, "t.zarr"), seed_mode="off", **levels)
            recorder = recording.__enter__()
        observed = make_step()
        restore()
        start = time.perf_counter()
        observed(x, y).numpy()
        steps_observed += 1
        result["first_call_s"] = round(time.perf_counter() - start, 1)

        def run_observed() -> Any:
            nonlocal steps_observed
            loss = observed(x, y)
            steps_observed += 1
            if recording is not None:
                recorder.next_step()
            return loss

        losses, finals = {}, {}
        for name, fn in (("plain", lambda: plain(x, y)), ("observed", run_observed)):
            restore()
            losses[name] = np.array([fn().numpy() for _ in range(args.check)])
            finals[name] = [v.numpy() for v in variables]
        result["loss_bitwise_equal"] = bool(np.array_equal(losses["plain"], losses["observed"]))
        result["variables_differing"] = sum(not np.array_equal(a, b)
                                            for a, b in zip(finals["plain"], finals["observed"]))
        ratios, plain_s = [], []
        cpu: dict[str, list[float]] = {"plain": [], "observed": []}
        system: dict[str, list[float]] = {"plain": [], "observed": []}
        for r in range(args.rounds):
            times = {}
            order = [("plain", lambda: plain(x, y)), ("observed", run_observed)]
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                start, start_cpu, start_system = time.perf_counter(), time.process_time(), os.times().system
                for _ in range(args.steps):
                    loss = fn()
                loss.numpy()
                times[name] = (time.perf_counter() - start) / args.steps
                cpu[name].append((time.process_time() - start_cpu) / args.steps)
                system[name].append((os.times().system - start_system) / args.steps)
            ratios.append(times["observed"] / times["plain"])
            plain_s.append(times["plain"])
        result["ratios"] = [round(v, 3) for v in ratios]
        result["plain_step_s"] = round(sorted(plain_s)[len(plain_s) // 2], 3)
        # CPU seconds of the whole process per step (every thread), median over the rounds
        # (of which in the kernel: file writes, page faults, thread wake-ups)
        result["cpu_s_per_step"] = {name: round(sorted(v)[len(v) // 2], 3) for name, v in cpu.items()}
        result["system_s_per_step"] = {name: round(sorted(v)[len(v) // 2], 3) for name, v in system.items()}
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        if recording is not None and "stats" in (levels or {}).values():
            result.update(host_split(args, plain, run_observed, x, y, recorder))
            steps_observed -= args.rounds * args.steps  # the dropping steps wrote nothing
    except Exception as exc:  # noqa: BLE001  (a variant that fails is a row of the table)
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        if recording is not None:
            recording.__exit__(None, None, None)
        if variant.startswith("tfdbg:"):
            tf.debugging.experimental.disable_dump_debug_info()
    result["steps_observed"] = steps_observed
    result["written_bytes_per_step"] = dir_size(tmp) // max(1, steps_observed)
    if recording is not None:
        trace = tftrace.open(os.path.join(tmp, "t.zarr"))
        counts: dict[str, int] = {}
        value_bytes = 0
        for event in trace.events:
            counts[event.kind] = counts.get(event.kind, 0) + 1
            if event.stored and event.shape is not None and event.dtype is not None:
                value_bytes += math.prod(event.shape) * np.dtype(
                    "float32" if event.dtype == "bfloat16" else event.dtype).itemsize
        result["events_per_step"] = {k: v // steps_observed for k, v in counts.items()}
        result["stored_value_bytes_per_step"] = value_bytes // max(1, steps_observed)
        result["not_captured"] = sum(g.get("count", 1) for g in
                                     trace.environment.get("not_captured", []))
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def time_host_calls() -> dict[str, Any]:
    """Time the observers' final call, which writes the events (``"s"``: wall seconds,
    ``"cpu"``: its thread's CPU seconds, summed), or, with ``"drop"`` set, make it drop
    what it holds instead; returns that dict, updated as steps run (``"original"``: the
    untimed call, to put back)."""
    from tftrace.recording import independent

    flush = independent._Buffer.flush
    host: dict[str, Any] = {"s": 0.0, "cpu": 0.0, "drop": False, "original": flush}

    def timed_flush(buffer: Any) -> None:
        start, cpu = time.perf_counter(), time.thread_time()
        if host["drop"]:
            with buffer.lock:
                buffer.values = []
        else:
            flush(buffer)
        host["s"] += time.perf_counter() - start
        host["cpu"] += time.thread_time() - cpu

    independent._Buffer.flush = timed_flush  # type: ignore[method-assign]
    return host


def host_split(args: argparse.Namespace, plain: Any, run_observed: Any, x: Any, y: Any,
               recorder: Any) -> dict[str, Any]:
    """Where the observed step's extra time goes, for variants with statistics computed in
    the graph: the host time per event (the observers' last call, which writes the events:
    wall time and its thread's CPU time) and the ratio of the observed step whose last
    call drops the statistics instead (the in-graph statistics and copies alone)."""
    host = time_host_calls()
    out: dict[str, Any] = {"host_us_per_event": [], "host_cpu_us_per_event": [],
                           "dropped_ratios": []}
    try:
        for r in range(args.rounds):
            times = {}
            order = [("plain", False), ("observed", False), ("dropped", True)]
            for name, drop in (order if r % 2 == 0 else order[::-1]):
                host.update(s=0.0, cpu=0.0, drop=drop)
                before = recorder.written().done
                start = time.perf_counter()
                for _ in range(args.steps):
                    loss = plain(x, y) if name == "plain" else run_observed()
                loss.numpy()
                times[name] = (time.perf_counter() - start) / args.steps
                if name == "observed":
                    events = max(1, recorder.written().done - before)
                    out["host_us_per_event"].append(round(host["s"] / events * 1e6, 1))
                    out["host_cpu_us_per_event"].append(round(host["cpu"] / events * 1e6, 1))
            out["dropped_ratios"].append(round(times["dropped"] / times["plain"], 3))
    finally:
        from tftrace.recording import independent

        independent._Buffer.flush = host["original"]  # type: ignore[method-assign]
    return out


def fmt_ratio(values: list[float]) -> str:
    v = sorted(values)
    return f"{v[len(v) // 2]:.2f}x ({v[0]:.2f}-{v[-1]:.2f})"


def fmt_range(values: list[float]) -> str:
    v = sorted(values)
    return f"{v[len(v) // 2]:.0f} ({v[0]:.0f}-{v[-1]:.0f})"


def driver(args: argparse.Namespace) -> None:
    print(f"# Keras 3 MobileNetV2 alpha 0.5, 96x96, batch 16, SGD momentum; training step in "
          f"tf.function. Per variant: own process, plain and observed side by side, "
          f"{args.rounds} rounds x {args.steps} steps, ratio median (min-max)", flush=True)
    rows = []
    for variant in args.variants.split(","):
        steps = args.steps
        if variant in ("tfdbg:FULL_TENSOR", "tfdbg:FULL_HEALTH"):
            steps = max(1, steps // 3)  # gigabytes of dumps per step
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", variant,
               "--steps", str(steps), "--rounds", str(args.rounds), "--check", str(args.check),
               "--tmp", args.tmp]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{variant}: worker failed (exit {proc.returncode}): {proc.stderr[-600:]}",
                  flush=True)
            continue
        row = json.loads(lines[-1])
        row["wall_s"] = round(time.perf_counter() - start)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print_table(rows)
    writing = [row for row in rows if row.get("stored_value_bytes_per_step") and "error" not in row]
    if writing and args.disk_mb:
        rate = disk_rate(args.tmp, args.disk_mb)
        print(f"# disk under {args.tmp}: {args.disk_mb} MiB of noise written and fsynced at "
              f"{rate:.0f} MB/s")
        for row in writing:
            floor = row["written_bytes_per_step"] / 1e6 / rate
            print(f"# {row['variant']}: {row['written_bytes_per_step'] / 1e6:.0f} MB a step need at "
                  f"least {floor:.2f} s a step at that rate (sustained): {floor / row['plain_step_s']:.1f}x the "
                  f"plain step ({row['plain_step_s']:.3f} s)")


def disk_rate(directory: str, megabytes: int) -> float:
    """MB/s of writing ``megabytes`` MiB of noise to a new file in ``directory``, fsync
    included: what the disk under the traces sustains, through the page cache."""
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 256, 64 << 20, dtype=np.uint8)
    fd, path = tempfile.mkstemp(prefix="disk_rate_", dir=directory)
    try:
        start = time.perf_counter()
        with open(fd, "wb", buffering=0) as f:
            for _ in range(max(1, megabytes // 64)):
                f.write(noise.data)
            os.fsync(f.fileno())
        seconds = time.perf_counter() - start
    finally:
        os.unlink(path)
    return max(1, megabytes // 64) * noise.nbytes / 1e6 / seconds


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'variant':24} {'overhead':>20} {'plain s':>8} {'loss==':>6} {'vars!=':>6} "
          f"{'events/step':>11} {'values MB/step':>14} {'written MB/step':>15}"
          + (f" {'stats dropped':>20} {'host us/event':>20} {'host CPU us/event':>20}"
             if any("dropped_ratios" in row for row in rows) else ""))
    for row in rows:
        if "error" in row:
            print(f"{row['variant']:24} ERROR {row['error']}")
            continue
        events = sum(row.get("events_per_step", {}).values()) or ""
        values = row.get("stored_value_bytes_per_step")
        print(f"{row['variant']:24} {fmt_ratio(row['ratios']):>20} {row['plain_step_s']:>8.3f} "
              f"{str(row['loss_bitwise_equal']):>6} {row['variables_differing']:>6} "
              f"{events:>11} {'' if values is None else f'{values / 1e6:.1f}':>14} "
              f"{row['written_bytes_per_step'] / 1e6:>15.1f}"
              + (f" {fmt_ratio(row['dropped_ratios']):>20} {fmt_range(row['host_us_per_event']):>20}"
                 f" {fmt_range(row['host_cpu_us_per_event']):>20}" if "dropped_ratios" in row else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=DEFAULT)
    parser.add_argument("--worker")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--check", type=int, default=2)
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    parser.add_argument("--disk-mb", type=int, default=2048,
                        help="MiB written to measure the disk's rate (0: not measured)")
    parser.add_argument("--table", nargs="+", metavar="JSON",
                        help="print the table of workers' output lines (workers run by hand, "
                             "e.g. side by side in parallel)")
    args = parser.parse_args()
    if args.table:
        rows = []
        for path in args.table:
            with open(path, encoding="utf-8") as f:
                rows.extend(json.loads(line) for line in f if line.startswith("{"))
        print_table(rows)
    elif args.worker:
        print(json.dumps(worker(args)), flush=True)
    else:
        driver(args)


if __name__ == "__main__":
    main()
