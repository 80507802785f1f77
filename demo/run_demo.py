"""`make demo`: record sample 1 (a tf-slim Inception v2, trained one step TF1-style in a
Session and TF2-style eagerly) and diff the two runs; then record the batch-norm
pitfall pair (sample 2) and show where it diverges, and write its HTML report; then
record a tf-slim net TF1-style and eagerly with one batch-norm epsilon changed and no
endpoint placed (sample 4), and show that the diff names the op and its attribute.

Each run is a separate process, as it would be on two machines, recorded from
scratch (the committed traces in sample_traces/ are not used). The traces go to
demo_out/ (or --out DIR); the reports are printed exactly as `tftrace diff` and
`tftrace check` print them.
"""

from __future__ import annotations

import argparse
import os
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


def rel(path: Path) -> str:
    return os.path.relpath(path, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where the traces go (default: demo_out)")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    python, tftrace = sys.executable, str(BIN / "tftrace")

    print("== 1. A tf-slim Inception v2 (batch norm, dropout), one training step, "
          "TF1 Session vs TF2 eager ==")
    tf1, tf2 = out / "inception_v2_session.zarr", out / "inception_v2_eager.zarr"
    run("record TF1 Session run", [python, "samples/train_tf1.py", rel(tf1), "slim_inception"], quiet=True)
    run("record TF2 eager run", [python, "samples/train_tf2.py", rel(tf2), "slim_inception"], quiet=True)
    code = run("diff", [tftrace, "diff", rel(tf1), rel(tf2)], ok=(0, 1))
    slim_equivalent = code == 0
    print("\nThe TF1 Session run and the TF2 eager run are "
          + ("equivalent." if slim_equivalent
             else "NOT equivalent: the report above says where they first diverge."))

    print("\n== 2. The batch-norm pitfall: model(x) in a custom tf.function loop, "
          "without training=True, vs with it ==")
    missing, fixed = out / "bn_pitfall_training_missing.zarr", out / "bn_pitfall_training_true.zarr"
    run("record model(x)", [python, "samples/bn_pitfall.py", rel(missing)], quiet=True)
    run("record model(x, training=True)",
        [python, "samples/bn_pitfall.py", rel(fixed), "--training-true"], quiet=True)
    pitfall_diff = run("diff", [tftrace, "diff", rel(missing), rel(fixed)], ok=(0, 1))
    pitfall_check = run("check", [tftrace, "check", rel(missing)], ok=(0, 1))
    report = out / "bn_pitfall_report.html"
    run("HTML report", [tftrace, "diff", rel(missing), rel(fixed), "--format", "html",
                        "-o", rel(report)], ok=(1,))
    print("\nThis divergence is expected: without training=True the batch norm runs in "
          "inference mode and never updates its moving statistics. The diff "
          + ("finds it" if pitfall_diff == 1 else "did NOT find it")
          + " and `tftrace check` on the first run "
          + ("flags them as frozen." if pitfall_check == 1 else "did NOT flag them."))
    print(f"\nThe HTML report of the pitfall pair (open it in a browser): {report}")

    print("\n== 3. No endpoint placed: a tf-slim net in a TF1 Session vs the same net eagerly "
          "through the shim, with batch-norm epsilon 1e-5 instead of 1e-3 in its second "
          "convolution ==")
    session, shim = out / "localize_session.zarr", out / "localize_shim_epsilon.zarr"
    run("record TF1 Session run", [python, "samples/localize_net.py", rel(session), "session"],
        quiet=True)
    run("record eager shim run, epsilon changed",
        [python, "samples/localize_net.py", rel(shim), "shim", "--change", "epsilon"], quiet=True)
    localized = run("diff", [tftrace, "diff", rel(session), rel(shim)], ok=(0, 1))
    print("\nThe diff " + ("names the batch norm op of conv2 and its epsilon attribute."
                           if localized == 1 else "did NOT find the change."))
    if not slim_equivalent or pitfall_diff != 1 or pitfall_check != 1 or localized != 1:
        sys.exit("demo: unexpected result (see above)")
    print("\nDemo finished: sample 1's runs are equivalent; the pitfall pair diverges where "
          "expected; the changed epsilon is found with no endpoint placed.")


if __name__ == "__main__":
    main()
