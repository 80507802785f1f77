"""`tftrace show`, `cat` and `pack` on real trace files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.format.writer import TraceWriter


def _trace(path: Path) -> Path:
    with TraceWriter.create(path, environment={"tensorflow": "2.x-test", "seed": 42}) as w:
        w.add_event("variable", "dense/kernel:0", value=np.array([[1.0, -2.0], [np.nan, np.inf]], np.float32),
                    attrs={"trainable": True, "call_site": "model.py:12 in build"})
        w.add_event("random_op", "dropout/random_uniform", value=np.full((3,), 0.25, np.float32),
                    attrs={"op_type": "RandomUniform", "seed": [42, 0]})
        w.add_event("endpoint", "loss", step=1, value=np.float32(0.5))
    return path


def test_show_json_is_parseable_and_complete(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.zarr")
    result = CliRunner().invoke(cli, ["show", "--json", str(path)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["complete"] is True and doc["format_version"] == 6
    assert doc["environment"]["seed"] == 42
    assert doc["counts"] == {"variable": 1, "random_op": 1, "endpoint": 1}
    kernel = doc["events"][0]
    assert kernel["name"] == "dense/kernel:0" and kernel["shape"] == [2, 2]
    assert kernel["stats"] == {"size": 4, "min": -2.0, "max": "inf", "mean": "inf", "nan": 1, "inf": 1}
    assert kernel["attrs"]["call_site"] == "model.py:12 in build"
    assert [e["seq"] for e in doc["events"]] == [0, 1, 2]


def test_show_text_table(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.zarr")
    out = CliRunner().invoke(cli, ["show", str(path)]).stdout.splitlines()
    assert out[0] == f"trace    {path}"
    assert out[1] == "format   tftrace v6, complete"
    assert "events   3 (variable 1, random_op 1, endpoint 1); steps 0..1" in out
    table = out[out.index("events   3 (variable 1, random_op 1, endpoint 1); steps 0..1") + 1:]
    assert table[0].split() == ["seq", "step", "kind", "name", "shape", "dtype", "min", "max", "mean", "nan", "inf"]
    assert table[1].split() == ["0", "0", "variable", "dense/kernel:0", "[2,2]", "float32", "-2", "inf", "inf", "1", "1"]
    assert table[3].split() == ["2", "1", "endpoint", "loss", "[]", "float32", "0.5", "0.5", "0.5", "0", "0"]


def test_show_marks_incomplete(tmp_path: Path) -> None:
    w = TraceWriter.create(tmp_path / "t.zarr")
    w.add_event("endpoint", "x", value=np.ones(2))
    w.flush()  # and never closed, as if the process died
    out = CliRunner().invoke(cli, ["show", str(tmp_path / "t.zarr")]).stdout
    assert "INCOMPLETE: the run was killed (the trace has no end record)" in out


def test_cat_prints_values_and_stats(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.zarr")
    result = CliRunner().invoke(cli, ["cat", str(path), "loss", "--step", "1"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "endpoint loss  step 1  occurrence 0  seq 2"
    assert lines[2] == "min 0.5  max 0.5  mean 0.5  nan 0  inf 0  size 1"
    assert lines[-1] == "0.5"


def test_pack_then_read_the_zip(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.zarr")
    result = CliRunner().invoke(cli, ["pack", str(path), str(tmp_path / "t.zarr.zip")])
    assert result.exit_code == 0, result.output
    a, b = tftrace.open(path), tftrace.open(tmp_path / "t.zarr.zip")
    assert [e.to_dict() for e in a.events] == [e.to_dict() for e in b.events]
    np.testing.assert_array_equal(a.array("dense/kernel:0"), b.array("dense/kernel:0"))


def test_show_never_imports_tensorflow(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.zarr")
    code = ("import sys; from tftrace.cli import main\n"
            "try:\n    main(['show', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "print('TF-IMPORTED' if 'tensorflow' in sys.modules else 'TF-ABSENT')")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("TF-ABSENT"), proc.stdout + proc.stderr


def _trace_with_snapshot(path: Path) -> Path:
    with TraceWriter.create(path) as w:
        w.add_event("variable", "net/conv1/bias:0", value=np.zeros(2, np.float32))
        w.add_event("snapshot", "net/conv1/bias:0", value=np.full(2, 0.25, np.float32))
        w.add_event("snapshot", "net/conv1/bias:0", step=1, value=np.full(2, 0.5, np.float32))
    return path


def test_cat_finds_a_variable_without_its_suffix(tmp_path: Path) -> None:
    path = _trace_with_snapshot(tmp_path / "t.zarr")
    result = CliRunner().invoke(cli, ["cat", str(path), "net/conv1/bias", "--step", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "snapshot net/conv1/bias:0  step 1  occurrence 0  seq 2"
    assert result.stdout.splitlines()[-1] == "[0.5, 0.5]"


def test_cat_says_which_kinds_share_a_name(tmp_path: Path) -> None:
    path = _trace_with_snapshot(tmp_path / "t.zarr")
    result = CliRunner().invoke(cli, ["cat", str(path), "net/conv1/bias"])
    assert result.exit_code == 2
    assert ("'net/conv1/bias' at step 0 is recorded as variable (initial value), snapshot "
            "(value at the step); expected one: pass --kind variable or --kind snapshot"
            ) in result.output
    chosen = CliRunner().invoke(cli, ["cat", str(path), "net/conv1/bias", "--kind", "snapshot"])
    assert chosen.exit_code == 0 and chosen.stdout.splitlines()[-1] == "[0.25, 0.25]"


def test_show_elides_long_names_in_the_middle(tmp_path: Path) -> None:
    name = "InceptionV2/Mixed_5c/Branch_3/Conv2d_0b_1x1/BatchNorm/moving_variance_with_a_long_tail:0"
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        w.add_event("endpoint", name, value=np.float32(1.0))
    out = CliRunner().invoke(cli, ["show", str(tmp_path / "t.zarr")]).stdout
    row = next(line for line in out.splitlines() if "endpoint" in line and "…" in line)
    cell = row.split()[3]
    assert len(cell) == 60 and cell.startswith("InceptionV2/Mixed_5") and cell.endswith("long_tail:0")
