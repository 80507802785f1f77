"""Trace write and read throughput vs np.save / np.load of the same arrays, side by side.

    .venv/bin/python benchmarks/write_read.py [--megabytes 512] [--arrays 32] [--repeat 7]

Writes the same float32 tensors (normal noise: compresses poorly, the honest case)
as one trace and as one .npy file per array, in the same folder, in alternating
order, each into a fresh directory (deleting the previous output is not timed)
and into warm memory (see ``warm_memory``); then the same again with an fsync
of every written file on both sides. Prints the median and the range over the
rounds of each throughput and of the per-round ratio.
Targets: write >= 0.8x, read >= 0.8x.

It also times, on the same arrays, what the trace write is made of: plain
``open().write`` of each array (what np.save costs without its header), the content
digest and statistics alone in the writer's threads, and one thread of sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

import tftrace
from tftrace.format import arrays as trace_arrays
from tftrace.format.writer import WORKERS, TraceWriter


def sync_tree(root: Path) -> None:
    """fsync every file: the data is on disk, not only in the page cache."""
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def warm_memory(nbytes: int) -> None:
    """Touch and free a bit more memory than the next write will put in the page cache.

    On this VM, memory freed for a second or more apparently goes back to the host
    (virtio-balloon free page reporting), and the next use of each page faults in the host:
    np.save measured 0.4 GB/s into such pages and 6-7 GB/s into freshly freed ones.
    Both sides get freshly freed pages, so the ratio compares the writers, not the host.
    """
    scratch = np.ones(nbytes + (nbytes >> 3), dtype=np.uint8)
    del scratch


def write_trace(path: Path, arrays: list[np.ndarray], sync: bool) -> None:
    with TraceWriter.create(path) as w:
        for i, a in enumerate(arrays):
            w.add_event("snapshot", f"layer{i}/kernel", value=a)
    if sync:
        sync_tree(path)


def write_npy(folder: Path, arrays: list[np.ndarray], sync: bool) -> None:
    folder.mkdir()
    for i, a in enumerate(arrays):
        np.save(folder / f"{i}.npy", a)
    if sync:
        sync_tree(folder)


def write_raw(folder: Path, arrays: list[np.ndarray]) -> None:
    folder.mkdir()
    for i, a in enumerate(arrays):
        with open(folder / str(i), "wb") as f:
            f.write(a.data.cast("B"))


def read_trace(path: Path) -> int:
    with tftrace.open(path) as trace:
        return sum(trace.array(ev).nbytes for ev in trace.events)


def read_npy(folder: Path, n: int) -> int:
    return sum(np.load(folder / f"{i}.npy").nbytes for i in range(n))


def summarize(arrays: list[np.ndarray], pool: ThreadPoolExecutor) -> None:
    """Digest and statistics as the writer computes them, without writing."""
    for a in arrays:
        summary = trace_arrays.Summary(a, "float32", a.shape)
        helpers = [pool.submit(summary.work) for _ in range(WORKERS)]
        summary.work()
        for h in helpers:
            h.result()
        summary.result()


def sha256_one_thread(arrays: list[np.ndarray]) -> None:
    for a in arrays:
        hashlib.sha256(a.data.cast("B")).digest()


def timed(fn: Callable[..., object], *args: object, cpu: list[float] | None = None) -> float:
    """Wall seconds of one call; appends the process's CPU seconds (all threads) to ``cpu``."""
    before, start = os.times(), time.perf_counter()
    fn(*args)
    wall, after = time.perf_counter() - start, os.times()
    if cpu is not None:
        cpu.append(after.user - before.user + after.system - before.system)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--arrays", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: system temp)")
    args = parser.parse_args()
    per = args.megabytes * (1 << 20) // 4 // args.arrays
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(per, dtype=np.float32).reshape(-1, 256) for _ in range(args.arrays)]
    total = sum(a.nbytes for a in arrays)
    work = Path(tempfile.mkdtemp(prefix="tftrace-bench-", dir=args.dir))
    trace, npy = work / "t.zarr", work / "npy"
    times: dict[str, list[float]] = {k: [] for k in (
        "trace", "npy", "trace_sync", "npy_sync", "trace_read", "npy_read", "raw", "summary", "sha256")}
    cpu: dict[str, list[float]] = {"trace": [], "npy": [], "summary": [], "sha256": []}
    load_before = os.getloadavg()[0]
    pool = ThreadPoolExecutor(max_workers=WORKERS)

    def clean() -> None:
        for p in (trace, npy, work / "raw"):
            shutil.rmtree(p, ignore_errors=True)

    try:
        for round_ in range(args.repeat):
            for sync, t_key, n_key in ((False, "trace", "npy"), (True, "trace_sync", "npy_sync")):
                sides = [(t_key, write_trace, trace), (n_key, write_npy, npy)]
                for key, fn, where in sides if round_ % 2 else sides[::-1]:  # alternate who goes first
                    shutil.rmtree(where, ignore_errors=True)
                    warm_memory(total)
                    times[key].append(timed(fn, where, arrays, sync, cpu=cpu.get(key)))
            reads: list[tuple[str, Callable[..., int], tuple[object, ...]]] = [
                ("trace_read", read_trace, (trace,)), ("npy_read", read_npy, (npy, len(arrays)))]
            for key, read, fargs in reads if round_ % 2 else reads[::-1]:
                times[key].append(timed(read, *fargs))
            size = sum(p.stat().st_size for p in trace.rglob("*") if p.is_file())
            clean()
            warm_memory(total)
            times["raw"].append(timed(write_raw, work / "raw", arrays))
            times["summary"].append(timed(summarize, arrays, pool, cpu=cpu["summary"]))
            times["sha256"].append(timed(sha256_one_thread, arrays, cpu=cpu["sha256"]))
    finally:
        pool.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    gb = total / 1e9

    def rate(key: str) -> str:
        rates = [gb / t for t in times[key]]
        return f"{statistics.median(rates):5.2f} GB/s ({min(rates):4.2f}-{max(rates):4.2f})"

    def line(what: str, ours: str, base: str, base_name: str, note: str) -> str:
        ratios = [b / o for o, b in zip(times[ours], times[base])]  # per round: same conditions
        return (f"{what:<5} tftrace {rate(ours)}   {base_name:<7} {rate(base)}   ratio "
                f"{statistics.median(ratios):4.2f}x ({min(ratios):4.2f}-{max(ratios):4.2f})  {note}")

    print(f"{total / (1 << 20):.0f} MiB of float32 in {args.arrays} arrays, {args.repeat} rounds: "
          f"median (min-max); trace on disk {size / total:.3f} of raw; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; target >= 0.80x")
    print(line("write", "trace", "npy", "np.save", "to the page cache"))
    print(line("write", "trace_sync", "npy_sync", "np.save", "to disk (fsync every file)"))
    print(line("read", "trace_read", "npy_read", "np.load", "from the page cache"))
    print(f"parts of a trace write, alone: open().write {rate('raw')}   digest + statistics "
          f"({WORKERS} threads + caller) {rate('summary')}   sha256 in one thread {rate('sha256')}")

    def cpu_per_gb(key: str) -> str:
        return f"{statistics.median(cpu[key]) / gb:5.3f} s ({min(cpu[key]) / gb:5.3f}-{max(cpu[key]) / gb:5.3f})"

    print(f"process CPU per GB, all threads (to the page cache): tftrace {cpu_per_gb('trace')}   "
          f"np.save {cpu_per_gb('npy')}   digest + statistics {cpu_per_gb('summary')}   "
          f"sha256 {cpu_per_gb('sha256')}; with {os.cpu_count()} cores a write takes at least "
          f"its CPU time / {os.cpu_count()}")


if __name__ == "__main__":
    main()
