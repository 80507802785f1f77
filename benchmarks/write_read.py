"""Trace write and read throughput vs np.save / np.load of the same arrays, side by side.

    .venv/bin/python benchmarks/write_read.py [--megabytes 512] [--arrays 32] [--repeat 3]

Writes the same float32 tensors (normal noise: compresses poorly, the honest case)
as one trace and as one .npy file per array, alternating, and prints the median
throughput of each and their ratio. Targets: write >= 0.8x, read >= 0.8x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import tftrace
from tftrace.format.writer import TraceWriter


def sync_tree(root: Path) -> None:
    """fsync every file: the data is on disk, not only in the page cache."""
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)


def write_trace(path: Path, arrays: list[np.ndarray], sync: bool) -> None:
    with TraceWriter.create(path, overwrite=True) as w:
        for i, a in enumerate(arrays):
            w.add_event("snapshot", f"layer{i}/kernel", value=a)
    if sync:
        sync_tree(path)


def write_npy(folder: Path, arrays: list[np.ndarray], sync: bool) -> None:
    folder.mkdir(exist_ok=True)
    for i, a in enumerate(arrays):
        np.save(folder / f"{i}.npy", a)
    if sync:
        sync_tree(folder)


def read_trace(path: Path) -> int:
    trace = tftrace.open(path)
    return sum(trace.array(ev).nbytes for ev in trace.events)


def read_npy(folder: Path, n: int) -> int:
    return sum(np.load(folder / f"{i}.npy").nbytes for i in range(n))


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--arrays", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    per = args.megabytes * (1 << 20) // 4 // args.arrays
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(per, dtype=np.float32).reshape(-1, 256) for _ in range(args.arrays)]
    total = sum(a.nbytes for a in arrays)
    work = Path(tempfile.mkdtemp(prefix="tftrace-bench-"))
    try:
        tw, nw, tws, nws, tr, nr = [], [], [], [], [], []
        for _ in range(args.repeat):
            for sync, t_list, n_list in ((False, tw, nw), (True, tws, nws)):
                shutil.rmtree(work / "npy", ignore_errors=True)
                n_list.append(timed(write_npy, work / "npy", arrays, sync))
                t_list.append(timed(write_trace, work / "t.zarr", arrays, sync))
            nr.append(timed(read_npy, work / "npy", len(arrays)))
            tr.append(timed(read_trace, work / "t.zarr"))
        size = sum(p.stat().st_size for p in (work / "t.zarr").rglob("*") if p.is_file())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gb = total / 1e9

    def line(what: str, ours: list[float], base: list[float], base_name: str) -> str:
        o, b = statistics.median(ours), statistics.median(base)
        return (f"{what:<6} tftrace {gb / o:6.2f} GB/s   {base_name:<8} {gb / b:6.2f} GB/s   "
                f"ratio {b / o:5.2f}x (target >= 0.80x)")

    print(f"{total / (1 << 20):.0f} MiB of float32 in {args.arrays} arrays, median of {args.repeat} runs; "
          f"trace on disk {size / total:.3f} of raw")
    print(line("write", tw, nw, "np.save") + "  to the page cache")
    print(line("write", tws, nws, "np.save") + "  to disk (fsync)")
    print(line("read", tr, nr, "np.load"))


if __name__ == "__main__":
    main()
