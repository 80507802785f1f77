"""What the diagnosis costs a diff: ``tftrace.diff`` with and without ``explain``, side by
side in one process, on the committed sample pairs.

    .venv/bin/python benchmarks/explain_overhead.py [--repeats 5]

The two variants alternate (and swap which goes first each repeat), so load from other processes hits both alike; prints the
median of each and their ratio per pair. Nothing asserted (figures: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import tftrace

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
PAIRS = {
    "inception session vs eager (equivalent, close)": ("inception_v2_session", "inception_v2_eager"),
    "inception 2.15 vs 2.21 (equivalent, close)": ("inception_v2_session_tf2.15", "inception_v2_session"),
    "bn pitfall (diverged)": ("bn_pitfall_training_true", "bn_pitfall_training_missing"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'pair':50s} {'without':>9s} {'with':>9s} {'ratio':>6s}")
    for label, (a, b) in PAIRS.items():
        a_path, b_path = SAMPLES / f"{a}.zarr.zip", SAMPLES / f"{b}.zarr.zip"
        times: dict[bool, list[float]] = {False: [], True: []}
        for repeat in range(args.repeats):
            for explain in ((False, True) if repeat % 2 == 0 else (True, False)):
                start = time.perf_counter()
                tftrace.diff(a_path, b_path, explain=explain)
                times[explain].append(time.perf_counter() - start)
        without, with_ = statistics.median(times[False]), statistics.median(times[True])
        print(f"{label:50s} {without:8.3f}s {with_:8.3f}s {with_ / without:6.2f}")


if __name__ == "__main__":
    main()
