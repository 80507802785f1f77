"""Size and render time of the HTML report for a synthetic diff of many pairs.

    .venv/bin/python benchmarks/html_report.py [--names 100] [--steps 100] [--elements 64]
                                               [--keep DIR]

Writes two traces with tftrace's TraceWriter (no TensorFlow): ``--names`` endpoints
("layer_0000/output" ...) recorded at each of ``--steps`` steps, ``--elements`` float32
values each, so names x steps pairs. B equals A until layer 40% of the way down and
step 30% of the way along; from there B = A * (1 + e) with e growing 10x per step and
per 10 layers below (from 1e-7, within tolerance, to far past it), as a divergence
that starts at one layer and spreads. Then it diffs them and renders the HTML report,
and prints the pair count, the report's size (and gzip-compressed size), and the time
of the diff and of the rendering (median of 3; noisy when the machine is shared).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import tftrace
from tftrace.format.writer import TraceWriter
from tftrace.report.html import render_html


def synthetic_pair(directory: Path, names: int, steps: int, elements: int) -> tuple[Path, Path]:
    """Traces A and B of ``names`` endpoints at each of ``steps`` steps (see the module doc)."""
    rng = np.random.default_rng(0)
    start_name, start_step = int(names * 0.4), int(steps * 0.3)
    paths = directory / "a.zarr", directory / "b.zarr"
    writers = [TraceWriter.create(p, environment={"host": side, "tensorflow_version": "synthetic"})
               for p, side in zip(paths, ("a", "b"))]
    try:
        for step in range(steps):
            for n in range(names):
                a = rng.standard_normal(elements).astype(np.float32)
                b = a
                if n >= start_name and step >= start_step:
                    e = 1e-7 * 10.0 ** ((step - start_step) + (n - start_name) / 10)
                    b = (a * (1 + min(e, 1e3))).astype(np.float32)
                name = f"layer_{n:04d}/output"
                for writer, value in zip(writers, (a, b)):
                    writer.add_event("endpoint", name, step=step, value=value,
                                     attrs={"call_site": f"model.py:{100 + n} in call"})
    finally:
        for writer in writers:
            writer.close()
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--elements", type=int, default=64)
    parser.add_argument("--keep", type=Path, default=None, help="write report.html here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = synthetic_pair(Path(tmp), args.names, args.steps, args.elements)
        diff_times, render_times = [], []
        for _ in range(3):
            start = time.perf_counter()
            result = tftrace.diff(a, b)
            diff_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            page = render_html(result, traces=(a, b))
            render_times.append(time.perf_counter() - start)
        encoded = page.encode("utf-8")
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / "report.html").write_bytes(encoded)
        statuses = {s.kind: (s.equal, s.close, s.diverged) for s in result.summary if s.compared}
        print(f"pairs: {len(result.pairs)} ({args.names} names x {args.steps} steps, "
              f"{args.elements} float32 each); (equal, close, diverged) per kind: {statuses}")
        print(f"report: {len(encoded) / 1e6:.2f} MB, gzip {len(gzip.compress(encoded)) / 1e6:.2f} MB")
        print(f"diff: {statistics.median(diff_times):.2f} s (range {min(diff_times):.2f}-"
              f"{max(diff_times):.2f}); render: {statistics.median(render_times):.2f} s (range "
              f"{min(render_times):.2f}-{max(render_times):.2f})")


if __name__ == "__main__":
    main()
