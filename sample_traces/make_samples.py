"""Regenerate the committed sample traces (see README.md beside this file).

    .venv/bin/python sample_traces/make_samples.py                    # all samples
    .venv/bin/python sample_traces/make_samples.py bn_pitfall_training_true
    .venv/bin/python sample_traces/make_samples.py --tf215-python /path/to/python

Every trace is recorded by running a script of samples/ in its own process (as on
separate machines), straight into ``sample_traces/NAME.zarr.zip``, with
``seed=42, seed_mode="num_random_ops"`` and full capture. Samples 1 to 3 use the
interpreter running this script (the project's ``.venv``). Sample 4 needs
TensorFlow 2.15: with ``--tf215-python PATH`` that interpreter is used (it needs
tensorflow-cpu 2.15.1, tf-keras 2.15.1, tf-slim, zarr 3, msgpack and click; tftrace
is taken from this checkout through PYTHONPATH); without it this script creates
``build/venv-tf2.15`` on first use and installs the pinned packages of
``TF215_PACKAGES`` into it (pip; about 600 MB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
MAX_BYTES = 5 * 1024 * 1024

#: What the virtual environment of samples 4 and 6 gets. tf-keras is installed without its
#: dependencies, else pip pulls the full ``tensorflow`` 2.15 wheel over tensorflow-cpu.
TF215_PACKAGES = ["tensorflow-cpu==2.15.1", "numpy==1.26.4", "tf-slim==1.1.0", "zarr==3.1.5",
                  "msgpack", "click", "ml_dtypes"]
TF215_NO_DEPS = ["tf-keras==2.15.1"]
TF215_VENV = ROOT / "build" / "venv-tf2.15"

#: name -> (TensorFlow, script and arguments; OUT is replaced by the trace path)
SAMPLES: dict[str, tuple[str, list[str]]] = {
    "inception_v2_session": ("installed", ["samples/train_tf1.py", "OUT", "slim_inception"]),
    "inception_v2_eager": ("installed", ["samples/train_tf2.py", "OUT", "slim_inception"]),
    "bn_pitfall_training_missing": ("installed", ["samples/bn_pitfall.py", "OUT"]),
    "bn_pitfall_training_true": ("installed", ["samples/bn_pitfall.py", "OUT", "--training-true"]),
    "new_variables_per_call": ("installed", ["samples/new_variables_per_call.py", "OUT"]),
    "inception_v2_session_tf2.15": ("2.15", ["samples/train_tf1.py", "OUT", "slim_inception"]),
    "localize_session": ("installed", ["samples/localize_net.py", "OUT", "session"]),
    "localize_shim_epsilon": ("installed", ["samples/localize_net.py", "OUT", "shim", "--change",
                                            "epsilon"]),
    "kernel_tanh_tf2.21": ("installed", ["samples/kernel_tanh.py", "OUT"]),
    "kernel_tanh_tf2.15": ("2.15", ["samples/kernel_tanh.py", "OUT"]),
}


def tf215_python() -> Path:
    """The interpreter of build/venv-tf2.15, created and filled on first use."""
    python = TF215_VENV / "bin" / "python"
    stamp = TF215_VENV / ".installed"
    if not stamp.exists():
        print(f"creating {TF215_VENV.relative_to(ROOT)} (TensorFlow 2.15.1)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TF215_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + TF215_PACKAGES, check=True)
        subprocess.run(pip + ["--no-deps"] + TF215_NO_DEPS, check=True)
        stamp.touch()
    return python


def record(name: str, python: Path | str) -> Path:
    out = HERE / f"{name}.zarr.zip"
    _, argv = SAMPLES[name]
    argv = [str(out.relative_to(ROOT)) if a == "OUT" else a for a in argv]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []) + [str(ROOT)]))
    print(f"{name}: {Path(python).name} {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    subprocess.run([str(python), *argv], cwd=ROOT, env=env, check=True)
    size = out.stat().st_size
    print(f"  {size / 1e6:.2f} MB, {time.perf_counter() - start:.1f} s", flush=True)
    if size >= MAX_BYTES:
        sys.exit(f"{out.name} is {size} bytes: samples must stay under {MAX_BYTES} bytes")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Regenerate the committed sample traces.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"samples to make (default: all): "
                        f"{', '.join(SAMPLES)}")
    parser.add_argument("--tf215-python", metavar="PATH",
                        help="Python with TensorFlow 2.15 for samples 4 and 6 (default: create "
                             "build/venv-tf2.15)")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in SAMPLES]
    if unknown:
        parser.error(f"unknown sample {', '.join(unknown)}; expected one of {', '.join(SAMPLES)}")
    for name in args.names or SAMPLES:
        if SAMPLES[name][0] == "2.15":
            record(name, args.tf215_python or tf215_python())
        else:
            record(name, sys.executable)

    sys.path.append(str(ROOT))
    import tftrace

    for name in args.names or SAMPLES:
        with tftrace.open(HERE / f"{name}.zarr.zip") as trace:
            if not trace.complete:
                sys.exit(f"{name}: the trace is incomplete")
            print(f"{name}: {len(trace.events)} events, TensorFlow "
                  f"{trace.environment.get('tensorflow_version')}")


if __name__ == "__main__":
    main()
