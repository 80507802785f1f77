"""Record the isolation pairs of tests/isolate/isolate_models.py and print `tftrace explain`
on each, as docs/diagnosis.md shows them.

    .venv/bin/python docs/examples/isolation_examples.py [OUT_DIR]

Pairs (A, B): conv_a / conv_valid (a convolution's padding, TF1 Session vs eager),
amplify_a / amplify_ulp (exp of inputs that already differ by one ULP), conv_stats_a /
conv_stats_valid (recorded with ops="stats"), leaky_a / leaky_a_again (two runs of one
program, the negative control); and the committed sample traces 6 (one tanh under
TensorFlow 2.21 and 2.15) at zero tolerance.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.isolate import isolate_models as models  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    for path in out.glob("*.zarr"):
        shutil.rmtree(path)
    pairs = [
        (models.conv_session(out / "conv_a.zarr"), models.conv_eager(out / "conv_valid.zarr", "VALID")),
        (models.amplify_eager(out / "amplify_a.zarr"), models.amplify_eager(out / "amplify_ulp.zarr", True)),
        (models.conv_session(out / "conv_stats_a.zarr", ops="stats"),
         models.conv_session(out / "conv_stats_valid.zarr", "VALID", ops="stats")),
        (models.leaky_eager(out / "leaky_a.zarr"), models.leaky_eager(out / "leaky_a_again.zarr")),
    ]
    samples = ROOT / "sample_traces"
    for name in ("kernel_tanh_tf2.21", "kernel_tanh_tf2.15"):
        shutil.copy(samples / f"{name}.zarr.zip", out)
    tftrace = str(Path(sys.executable).parent / "tftrace")
    os.chdir(out)
    commands = [["tftrace", "explain", Path(a).name, Path(b).name] for a, b in pairs]
    commands.append(["tftrace", "explain", "kernel_tanh_tf2.21.zarr.zip", "kernel_tanh_tf2.15.zarr.zip",
                     "--rtol", "0", "--atol", "0"])
    for command in commands:
        run = subprocess.run([tftrace, *command[1:]], capture_output=True, text=True)
        print("$ " + " ".join(command) + f"    # exit {run.returncode}")
        print(run.stdout)


if __name__ == "__main__":
    main()
