"""`make demo`: record the bundled tf-slim sample TF1-style and TF2-style, then diff.

Each run is a separate process, as it would be on two machines. The traces go
to demo_out/; the diff is printed exactly as `tftrace diff` prints it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo_out"
BIN = Path(sys.executable).parent


def run(title: str, argv: list[str], ok: tuple[int, ...] = (0,), quiet: bool = False) -> int:
    print(f"\n$ {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE if quiet else None,
                          stderr=subprocess.PIPE if quiet else None)
    if proc.returncode not in ok:
        if quiet:
            sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(f"demo: {title} failed with exit code {proc.returncode}")
    print(f"[{title}: exit {proc.returncode}, {time.perf_counter() - start:.1f} s]", flush=True)
    return proc.returncode


def main() -> None:
    OUT.mkdir(exist_ok=True)
    tf1, tf2 = OUT / "slim_tf1.zarr", OUT / "slim_tf2.zarr"
    python = sys.executable
    run("record TF1 Session run", [python, "samples/train_tf1.py", str(tf1)], quiet=True)
    run("record TF2 eager run", [python, "samples/train_tf2.py", str(tf2)], quiet=True)
    run("show", [str(BIN / "tftrace"), "show", str(tf2)])
    code = run("diff", [str(BIN / "tftrace"), "diff", str(tf1), str(tf2)], ok=(0, 1))
    print("\nThe TF1 Session run and the TF2 eager run are "
          + ("equivalent." if code == 0 else "NOT equivalent: the report above says where they first diverge."))


if __name__ == "__main__":
    main()
