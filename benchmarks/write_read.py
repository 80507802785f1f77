"""Trace write and read throughput vs np.save / np.load of the same arrays, side by side.

    .venv/bin/python benchmarks/write_read.py [--megabytes 512] [--arrays 32] [--repeat 7]
                                              [--schemes crc32-tree-4MiB,sha256-tree-4MiB]

Writes the same float32 tensors (normal noise: compresses poorly, the honest case)
as one trace and as one .npy file per array, in the same folder, in alternating
order, each into a fresh directory (deleting the previous output is not timed)
and into warm memory (see ``warm_memory``); then the same again with an fsync
of every written file on both sides. Prints the median and the range over the
rounds of each throughput and of the per-round ratio. The trace is written once per
digest scheme in ``--schemes`` in every round (the writers' order rotates with np.save's),
so the schemes are compared under the same conditions.
Targets: write >= 0.8x, read >= 0.8x.

It also times, on the same arrays, what the trace write is made of: plain
``open().write`` of each array (what np.save costs without its header), the content
digest and statistics alone in the writer's threads (per scheme), the statistics
alone, and one thread of sha256 and of crc32.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import tempfile
import time
import zlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

import tftrace
from tftrace.format import digest as trace_digest
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


def write_trace(path: Path, arrays: list[np.ndarray], sync: bool,
                scheme: str = trace_digest.DIGEST_SCHEME) -> None:
    with TraceWriter.create(path, digest_scheme=scheme) as w:
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


def summarize(arrays: list[np.ndarray], pool: ThreadPoolExecutor, scheme: str) -> None:
    """Digest and statistics as the writer computes them, without writing."""
    for a in arrays:
        summary = trace_digest.Summary(a, "float32", a.shape, scheme)
        helpers = [pool.submit(summary.work) for _ in range(WORKERS)]
        summary.work()
        for h in helpers:
            h.result()
        summary.result()


def statistics_alone(arrays: list[np.ndarray]) -> None:
    """The statistics pass of the writer, one thread, no digest."""
    for a in arrays:
        part = trace_digest._Partial()
        flat = a.reshape(-1)
        step = trace_digest._BLOCK_BYTES // flat.itemsize
        for lo in range(0, flat.size, step):
            part.add(flat[lo:lo + step], "float32")


def sha256_one_thread(arrays: list[np.ndarray]) -> None:
    for a in arrays:
        hashlib.sha256(a.data.cast("B")).digest()


def crc32_one_thread(arrays: list[np.ndarray]) -> None:
    for a in arrays:
        zlib.crc32(a.data.cast("B"))


def crc32c_one_thread(arrays: list[np.ndarray]) -> None:
    for a in arrays:
        trace_digest.crc32c(a.reshape(-1).view(np.uint8))


def timed(fn: Callable[..., object], *args: object, cpu: list[float] | None = None,
          caller: list[tuple[float, float]] | None = None) -> float:
    """Wall seconds of one call; appends the process's CPU seconds (all threads) to ``cpu``
    and the calling thread's own (user, system) seconds to ``caller``."""
    before, mine = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_THREAD)
    start = time.perf_counter()
    fn(*args)
    wall = time.perf_counter() - start
    after, mine_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_THREAD)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if caller is not None:
        caller.append((mine_after.ru_utime - mine.ru_utime, mine_after.ru_stime - mine.ru_stime))
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--arrays", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--schemes", default=",".join(trace_digest.WRITABLE_DIGEST_SCHEMES[:2]),
                        help="digest schemes to write traces with, comma-separated")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: system temp)")
    args = parser.parse_args()
    schemes = args.schemes.split(",")
    unknown = set(schemes) - set(trace_digest.WRITABLE_DIGEST_SCHEMES)
    if unknown:
        parser.error(f"--schemes: expected some of {', '.join(trace_digest.WRITABLE_DIGEST_SCHEMES)}, "
                     f"got {', '.join(sorted(unknown))}")
    per = args.megabytes * (1 << 20) // 4 // args.arrays
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(per, dtype=np.float32).reshape(-1, 256) for _ in range(args.arrays)]
    total = sum(a.nbytes for a in arrays)
    work = Path(tempfile.mkdtemp(prefix="tftrace-bench-", dir=args.dir))
    npy = work / "npy"
    traces = {scheme: work / f"{scheme}.zarr" for scheme in schemes}
    times: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    caller: dict[str, list[tuple[float, float]]] = defaultdict(list)  # the calling thread's (user, system)
    load_before = os.getloadavg()[0]
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    first = schemes[0]

    def clean() -> None:
        for p in (*traces.values(), npy, work / "raw"):
            shutil.rmtree(p, ignore_errors=True)

    try:
        for round_ in range(args.repeat):
            for sync in (False, True):
                tag = "_sync" if sync else ""
                sides: list[tuple[str, Callable[..., None], Path, tuple[object, ...]]] = [
                    (f"npy{tag}", write_npy, npy, ())]
                sides += [(f"trace{tag}:{scheme}", write_trace, traces[scheme], (scheme,)) for scheme in schemes]
                shift = round_ % len(sides)  # rotate who goes first
                for key, fn, where, extra in sides[shift:] + sides[:shift]:
                    shutil.rmtree(where, ignore_errors=True)
                    warm_memory(total)
                    times[key].append(timed(fn, where, arrays, sync, *extra, cpu=cpu[key], caller=caller[key]))
            reads: list[tuple[str, Callable[..., int], tuple[object, ...]]] = [
                ("trace_read", read_trace, (traces[first],)), ("npy_read", read_npy, (npy, len(arrays)))]
            for key, read, fargs in reads if round_ % 2 else reads[::-1]:
                times[key].append(timed(read, *fargs))
            size = sum(p.stat().st_size for p in traces[first].rglob("*") if p.is_file())
            clean()
            warm_memory(total)
            times["raw"].append(timed(write_raw, work / "raw", arrays))
            for scheme in schemes:
                key = f"summary:{scheme}"
                times[key].append(timed(summarize, arrays, pool, scheme, cpu=cpu[key]))
            times["stats"].append(timed(statistics_alone, arrays, cpu=cpu["stats"]))
            times["sha256"].append(timed(sha256_one_thread, arrays, cpu=cpu["sha256"]))
            times["crc32"].append(timed(crc32_one_thread, arrays, cpu=cpu["crc32"]))
            times["crc32c"].append(timed(crc32c_one_thread, arrays, cpu=cpu["crc32c"]))
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
    for sync, note in ((False, "to the page cache"), (True, "to disk (fsync every file)")):
        tag = "_sync" if sync else ""
        for scheme in schemes:
            print(line("write", f"trace{tag}:{scheme}", f"npy{tag}", "np.save", f"{note}, digest {scheme}"))
    print(line("read", "trace_read", "npy_read", "np.load", f"from the page cache (digest {first})"))
    parts = "   ".join(f"digest {scheme} + statistics {rate(f'summary:{scheme}')}" for scheme in schemes)
    print(f"parts of a trace write, alone: open().write {rate('raw')}   {parts} ({WORKERS} threads + caller)   "
          f"statistics in one thread {rate('stats')}   sha256 in one thread {rate('sha256')}   "
          f"crc32 in one thread {rate('crc32')}   crc32c in one thread {rate('crc32c')}")

    def cpu_per_gb(key: str) -> str:
        return f"{statistics.median(cpu[key]) / gb:5.3f} s ({min(cpu[key]) / gb:5.3f}-{max(cpu[key]) / gb:5.3f})"

    writes = "   ".join(f"tftrace ({scheme}) {cpu_per_gb(f'trace:{scheme}')}" for scheme in schemes)
    summaries = "   ".join(f"digest {scheme} + statistics {cpu_per_gb(f'summary:{scheme}')}" for scheme in schemes)
    print(f"process CPU per GB, all threads (to the page cache): {writes}   np.save {cpu_per_gb('npy')}   "
          f"{summaries}   statistics {cpu_per_gb('stats')}   sha256 {cpu_per_gb('sha256')}   "
          f"crc32 {cpu_per_gb('crc32')}   crc32c {cpu_per_gb('crc32c')}; with {os.cpu_count()} cores a write takes at least "
          f"its CPU time / {os.cpu_count()}")

    def split(key: str) -> str:
        user = statistics.median(u for u, _ in caller[key]) / gb
        system = statistics.median(s for _, s in caller[key]) / gb
        rest = max(0.0, statistics.median(c - u - s for c, (u, s) in zip(cpu[key], caller[key])) / gb)
        return f"user {user:5.3f} s + system {system:5.3f} s, other threads {rest:5.3f} s"

    print("CPU per GB by thread (to the page cache; system = the kernel, mostly copying into the page cache): "
          + "   ".join(f"tftrace ({scheme}) calling thread {split(f'trace:{scheme}')}" for scheme in schemes)
          + f"   np.save {split('npy')}")


if __name__ == "__main__":
    main()
