"""The public names of shared/DESIGN.md, reached from `import tftrace` alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tftrace.format.writer import TraceWriter


def test_testing_module_needs_no_explicit_import_and_no_tensorflow(tmp_path: Path) -> None:
    for name, value in (("a", 1.0), ("b", 1.5)):
        with TraceWriter.create(tmp_path / f"{name}.zarr") as w:
            w.add_event("endpoint", "loss", value=np.float32(value))
    code = (
        "import sys, tftrace\n"
        "tftrace.testing.assert_equivalent(sys.argv[1], sys.argv[1])\n"
        "try:\n"
        "    tftrace.testing.assert_equivalent(sys.argv[1], sys.argv[2])\n"
        "except AssertionError as exc:\n"
        "    print('RAISED', 'loss' in str(exc))\n"
        "print('TF', 'tensorflow' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["RAISED True", "TF False"]
