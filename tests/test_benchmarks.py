"""The benchmark scripts run as documented (their figures are not asserted: docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_diff_throughput_creates_its_dir_or_says_why_not(tmp_path: Path) -> None:
    where = tmp_path / "new" / "sub"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diff_throughput.py"), "--size-mb", "1",
                           "--dir", str(where)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert where.is_dir() and list(where.iterdir()) == []  # created, and cleaned after
    assert "(a) equal, not bitwise" in proc.stdout
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diff_throughput.py"), "--size-mb", "1",
                           "--dir", str(blocked / "sub")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (f"diff_throughput.py: error: --dir {blocked / 'sub'}: "
                                            "cannot write there: Not a directory")
    assert "Traceback" not in proc.stderr


def test_explain_overhead_prints_a_row_per_sample_pair() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "explain_overhead.py"), "--repeats", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()
    assert rows[0].split() == ["pair", "without", "with", "ratio"] and len(rows) == 4
