"""Size and render time of the HTML report for a synthetic diff of many pairs.

    .venv/bin/python benchmarks/html_report.py [--names 100] [--steps 100] [--elements 64]
                                               [--keep DIR] [--result-only] [--browser]

Writes two traces with tftrace's TraceWriter (no TensorFlow): ``--names`` endpoints
("layer_0000/output" ...) recorded at each of ``--steps`` steps, ``--elements`` float32
values each, so names x steps pairs. B equals A until layer 40% of the way down and
step 30% of the way along; from there B = A * (1 + e) with e growing 10x per step and
per 10 layers below (from 1e-7, within tolerance, to far past it), as a divergence
that starts at one layer and spreads. Then it diffs them and renders the HTML report,
and prints the pair count, the report's size, and the time of the diff and of the
rendering (median of 3; noisy when the machine is shared).

``--result-only`` skips the traces: it builds the result's dict directly (the same
pairs and errors, no statistics or histograms), for sizes too slow to record, such as
2,000 names x 200 steps. ``--browser`` also opens the page in headless Chromium
(Debian's, as the browser tests) and prints the time until it has drawn everything.
"""

from __future__ import annotations

import argparse
import statistics
import sys
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


def synthetic_result(names: int, steps: int, elements: int) -> dict:
    """The result dict ``synthetic_pair``'s traces would give, built directly."""
    start_name, start_step = int(names * 0.4), int(steps * 0.3)
    pairs: list[dict] = []
    for step in range(steps):
        for n in range(names):
            pair = {"kind": "endpoint", "name": f"layer_{n:04d}/output", "status": "equal",
                    "message": "equal (same content digest)", "step": step, "occurrence": 0,
                    "seq_a": len(pairs), "seq_b": len(pairs), "shape_a": [elements],
                    "shape_b": [elements], "dtype_a": "float32", "dtype_b": "float32",
                    "compared_by": "digest", "tolerance": {"rtol": 1e-6, "atol": 1e-5},
                    "values": None, "call_site_a": f"model.py:{100 + n} in call",
                    "call_site_b": f"model.py:{100 + n} in call"}
            if n >= start_name and step >= start_step:
                e = min(1e-7 * 10.0 ** ((step - start_step) + (n - start_name) / 10), 1e3)
                diverged = e > 1e-6
                element = {"index": [0], "a": 1.0, "b": 1.0 + e, "error": e}
                pair.update(status="diverged" if diverged else "close", compared_by="values",
                            values={"size": elements, "mismatched": elements if diverged else 0,
                                    "identical": False, "exact": False, "max_abs_error": element,
                                    "max_rel_error": element,
                                    "mismatches": [element] * (5 if diverged else 0),
                                    "max_ulp": 1000, "nan_mismatched": 0, "inf_mismatched": 0})
            pairs.append(pair)
    first = next((p for p in pairs if p["status"] == "diverged"), None)
    info = {"path": "synthetic", "complete": True, "events": len(pairs), "tensorflow": None,
            "host": None, "replay": None}
    return {"report_version": 1, "equivalent": first is None, "complete": True, "a": info,
            "b": info, "tolerance": {"rtol": 1e-6, "atol": 1e-5, "overrides": []},
            "kinds": ["endpoint"], "rename": [], "suggested_renames": [], "first_divergence": first,
            "broken_stream": "computation" if first else None, "inputs_compared": False,
            "random_gaps": [], "stopped_early": False, "notes": [], "summary": [], "pairs": pairs}


def time_in_browser(page_path: Path) -> float:
    """Seconds from navigation until the page has drawn everything, in headless Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))
    from browser import Browser, browser_or_skip

    browser = Browser(browser_or_skip())
    try:
        start = time.perf_counter()
        opened = browser.open(page_path)
        seconds = time.perf_counter() - start
        assert opened.console == [] and opened.other_requests == [], opened.console
        return seconds
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--elements", type=int, default=64)
    parser.add_argument("--keep", type=Path, default=None, help="write report.html here")
    parser.add_argument("--result-only", action="store_true", help="no traces: the result dict")
    parser.add_argument("--browser", action="store_true", help="time drawing in headless Chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.result_only:
            document = synthetic_result(args.names, args.steps, args.elements)
            start = time.perf_counter()
            page = render_html(document, read_traces=False)
            render = time.perf_counter() - start
            encoded = page.encode("utf-8")
            diverged = sum(p["status"] == "diverged" for p in document["pairs"])
            print(f"pairs: {len(document['pairs'])} ({args.names} names x {args.steps} steps; "
                  f"{diverged} diverged); result dict only (no statistics, no histograms)")
            print(f"report: {len(encoded) / 1e6:.2f} MB; render: {render:.2f} s")
            _finish(encoded, Path(tmp), args)
            return
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
        statuses = {s.kind: (s.equal, s.close, s.diverged) for s in result.summary if s.compared}
        print(f"pairs: {len(result.pairs)} ({args.names} names x {args.steps} steps, "
              f"{args.elements} float32 each); (equal, close, diverged) per kind: {statuses}")
        print(f"report: {len(encoded) / 1e6:.2f} MB")
        print(f"diff: {statistics.median(diff_times):.2f} s (range {min(diff_times):.2f}-"
              f"{max(diff_times):.2f}); render: {statistics.median(render_times):.2f} s (range "
              f"{min(render_times):.2f}-{max(render_times):.2f})")
        _finish(encoded, Path(tmp), args)


def _finish(encoded: bytes, tmp: Path, args: argparse.Namespace) -> None:
    page_path = (args.keep or tmp) / "report.html"
    page_path.parent.mkdir(parents=True, exist_ok=True)
    page_path.write_bytes(encoded)
    if args.browser:
        print(f"drawn in headless Chromium in {time_in_browser(page_path):.2f} s "
              f"(navigation to everything drawn)")


if __name__ == "__main__":
    main()
