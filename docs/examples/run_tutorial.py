"""Run every command of docs/tutorial.md in a scratch directory and print each with its
output, as the tutorial shows them (the tutorial's outputs were pasted from this).

    python docs/examples/run_tutorial.py [WORKDIR]

Commands run in WORKDIR (default: a new temporary directory), where the traces are
written, with the venv's ``tftrace`` on PATH; ``$R`` is the repository root (shown
without it, as the tutorial writes the commands from the root).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

COMMANDS = [
    # 1. variables are created once
    "tftrace record -o tf2_inference.zarr $R/docs/examples/tutorial_tf2.py inference 2",
    "tftrace check tf2_inference.zarr",
    "tftrace check $R/sample_traces/new_variables_per_call.zarr.zip",
    # 2. count, names, shapes, dtypes, trainability
    "tftrace record -o tf1_inference.zarr $R/docs/examples/tutorial_tf1.py inference 2",
    "tftrace diff --only variables tf1_inference.zarr tf2_inference.zarr",
    # 3. fixed weights, no randomness: outputs and regularization losses
    "tftrace diff tf1_inference.zarr tf2_inference.zarr",
    # 4. seeded randomness, training one step
    "tftrace record -o tf1_train.zarr $R/docs/examples/tutorial_tf1.py training 1",
    "tftrace record -o tf2_train.zarr $R/docs/examples/tutorial_tf2.py training 1",
    "tftrace diff tf1_train.zarr tf2_train.zarr",
    # 4. three steps: seeds are not enough, replay is
    "tftrace record -o tf1_train3.zarr $R/docs/examples/tutorial_tf1.py training 3",
    "tftrace record -o tf2_train3.zarr $R/docs/examples/tutorial_tf2.py training 3",
    "tftrace diff --first tf1_train3.zarr tf2_train3.zarr",
    "tftrace record -o tf2_train3_replayed.zarr --replay tf1_train3.zarr "
    "$R/docs/examples/tutorial_tf2.py training 3",
    "tftrace diff --first tf1_train3.zarr tf2_train3_replayed.zarr",
    "tftrace diff --only endpoints --tol '*=1e-2,1e-2' --tol '*loss=1e-4,1e-4' "
    "tf1_train3.zarr tf2_train3_replayed.zarr",
]


def main() -> None:
    workdir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tftrace-tutorial-")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for command in COMMANDS:
        shown = command.replace("$R/", "")
        real = command.replace("$R", shlex.quote(ROOT))
        result = subprocess.run(real, shell=True, cwd=workdir, env=env, capture_output=True,
                                text=True)
        # TensorFlow's C++ start-up lines and Python warnings go to stderr: not shown,
        # except tftrace's own error line.
        print(f"$ {shown}")
        print(result.stdout, end="")
        print("".join(line + "\n" for line in result.stderr.splitlines()
                      if line.startswith("Error:")), end="")
        print(f"[exit {result.returncode}]\n", flush=True)


if __name__ == "__main__":
    main()
