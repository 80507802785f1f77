"""How fast `tftrace diff` compares two large traces, side by side with plain numpy.

    .venv/bin/python benchmarks/diff_throughput.py [--size-mb 1024] [--dir /tmp]

Writes two traces of ``--size-mb`` of float32 each (16 arrays), plus the same arrays
as ``.npy`` files, then times, each in a fresh subprocess (so peak RSS is its own):

(a) equal but not bitwise-equal arrays (B = A * (1 + 2e-7), within rtol=1e-6):
    ``tftrace.diff`` vs ``np.load`` + ``np.allclose`` per array;
(b) bitwise-equal arrays: tftrace skips them by digest, numpy still loads and compares;
(c) a divergence in the first array (A vs the noisy B with rtol=atol=0): time to the
    first report with ``stop_at_first=True`` (``tftrace diff --first``), and without.

Files stay warm in the page cache for both sides. Prints one table; nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_ARRAYS = 16

TFTRACE_JOB = """
import json, sys, time
t0 = time.perf_counter()
from tftrace.compare.divergence import diff
from tftrace.report.text import render_text
a, b, rtol, atol, first = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1"
t1 = time.perf_counter()
result = diff(a, b, rtol=rtol, atol=atol, stop_at_first=first)
report = render_text(result)
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t1, "with_imports": t2 - t0, "equivalent": result.equivalent,
                  "first": result.first_divergence.name if result.first_divergence else None}))
"""

NUMPY_JOB = """
import json, sys, time
import numpy as np
t1 = time.perf_counter()
a_dir, b_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
equal = True
for i in range(n):
    x = np.load(f"{a_dir}/{i}.npy")
    y = np.load(f"{b_dir}/{i}.npy")
    equal &= bool(np.allclose(y, x, rtol=1e-6, atol=1e-5))
    del x, y
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t1, "equivalent": equal}))
"""

PEAK_RSS = """
def _peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def run_job(code: str, *args: object) -> dict:
    """Run ``code`` in a fresh interpreter; add its peak RSS (VmHWM) to its JSON line."""
    wrapped = PEAK_RSS + code.replace('print(json.dumps({', 'print(json.dumps({"peak": _peak_rss_mb(), ')
    proc = subprocess.run([sys.executable, "-c", wrapped, *map(str, args)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def baseline_rss_mb() -> float:
    code = PEAK_RSS + "import numpy\nfrom tftrace.compare.divergence import diff\nprint(_peak_rss_mb())"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)


def write_inputs(root: Path, size_mb: int) -> None:
    from tftrace.format.writer import TraceWriter

    per_array = size_mb * (1 << 20) // 4 // N_ARRAYS
    rng = np.random.default_rng(0)
    writers = {name: TraceWriter.create(root / f"{name}.zarr", environment={"bench": name})
               for name in ("a", "same", "noisy")}
    for name in ("a", "noisy"):
        (root / f"{name}_npy").mkdir()
    for i in range(N_ARRAYS):
        x = rng.standard_normal(per_array, dtype=np.float32).reshape(-1, 1024)
        noisy = x * np.float32(1 + 2e-7)
        writers["a"].add_event("variable", f"layer_{i}/kernel", value=x)
        writers["same"].add_event("variable", f"layer_{i}/kernel", value=x)
        writers["noisy"].add_event("variable", f"layer_{i}/kernel", value=noisy)
        np.save(root / "a_npy" / f"{i}.npy", x)
        np.save(root / "noisy_npy" / f"{i}.npy", noisy)
    for writer in writers.values():
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="float32 megabytes per trace")
    parser.add_argument("--dir", default="/tmp", type=Path,
                        help="where to write the temporary traces (created if missing)")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    args = parser.parse_args()
    try:
        args.dir.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="tftrace-diff-bench-", dir=args.dir))
    except OSError as exc:
        parser.error(f"--dir {args.dir}: cannot write there: {exc.strerror or exc}")
    try:
        t = time.perf_counter()
        write_inputs(root, args.size_mb)
        print(f"# wrote 3 traces + 2 npy sets of {args.size_mb} MB float32 ({N_ARRAYS} arrays) "
              f"in {time.perf_counter() - t:.1f} s under {root}")
        base = baseline_rss_mb()
        a, same, noisy = (str(root / f"{n}.zarr") for n in ("a", "same", "noisy"))
        rows = []
        np_equal = run_job(NUMPY_JOB, root / "a_npy", root / "noisy_npy", N_ARRAYS)
        tf_equal = run_job(TFTRACE_JOB, a, noisy, 1e-6, 1e-5, 0)
        assert tf_equal["equivalent"] and np_equal["equivalent"]
        rows.append(("(a) equal, not bitwise", tf_equal, np_equal))
        np_same = run_job(NUMPY_JOB, root / "a_npy", root / "a_npy", N_ARRAYS)
        tf_same = run_job(TFTRACE_JOB, a, same, 1e-6, 1e-5, 0)
        rows.append(("(b) bitwise equal", tf_same, np_same))
        tf_first = run_job(TFTRACE_JOB, a, noisy, 0, 0, 1)
        tf_full = run_job(TFTRACE_JOB, a, noisy, 0, 0, 0)
        print(f"# interpreter + numpy + tftrace.compare imported: {base:.0f} MB RSS")
        print(f"{'case':<28}{'tftrace s':>10}{'numpy s':>10}{'ratio':>8}{'tftrace RSS MB':>16}"
              f"{'numpy RSS MB':>14}")
        for label, tf, npy in rows:
            print(f"{label:<28}{tf['seconds']:>10.2f}{npy['seconds']:>10.2f}"
                  f"{tf['seconds'] / npy['seconds']:>8.3f}{tf['peak']:>16.0f}{npy['peak']:>14.0f}")
        print(f"{'(c) first array diverges':<28}{tf_first['seconds']:>10.2f}{'':>10}{'':>8}"
              f"{tf_first['peak']:>16.0f}   (--first; first: {tf_first['first']})")
        print(f"{'(c) same, full diff':<28}{tf_full['seconds']:>10.2f}{'':>10}{'':>8}"
              f"{tf_full['peak']:>16.0f}")
        print("# ratio = tftrace / numpy (lower is better); seconds exclude interpreter start-up")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
