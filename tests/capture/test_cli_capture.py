"""`tftrace record` takes the capture levels and op filters; `diff --only` knows the kinds."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from tftrace.cli import cli
from tftrace.format.reader import open_trace

HERE = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(HERE)!r})
    from capture_models import run_session
    run_session(sys.argv[1])
""")


def test_record_levels_and_filters_then_diff_only_ops(tmp_path):
    script = tmp_path / "net.py"
    script.write_text(SCRIPT)
    runner = CliRunner()
    for name, change in (("a", "none"), ("b", "epsilon")):
        result = runner.invoke(cli, ["record", "-o", str(tmp_path / f"{name}.zarr"), "--ops", "full",
                                     "--layers", "off", "--op-type", "FusedBatchNorm*",
                                     "--op-scope", "conv2/*", str(script), change])
        assert result.exit_code == 0, result.output
    trace = open_trace(tmp_path / "a.zarr")
    ops = [e for e in trace.events if e.kind == "op"]
    assert [e.name for e in ops] == ["conv2/BatchNorm/FusedBatchNormV3:0"]
    assert not [e for e in trace.events if e.kind == "layer"]
    assert trace.environment["capture_levels"] == {
        "layers": "off", "ops": "full", "gradients": "stats", "optimizer": "full",
        "op_scopes": ["conv2/*"], "op_types": ["FusedBatchNorm*"]}
    result = runner.invoke(cli, ["diff", str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr"),
                                 "--only", "ops", "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["report_version"] == 4 and report["kinds"] == ["op"]
    first = report["first_divergence"]
    assert first["layer"] == "conv2/BatchNorm"
    assert first["attribute_differences"] == [
        {"attribute": "epsilon", "a": 0.0010000000474974513, "b": 9.999999747378752e-06}]


def test_record_rejects_an_unknown_level(tmp_path):
    script = tmp_path / "net.py"
    script.write_text("pass\n")
    result = CliRunner().invoke(cli, ["record", "-o", str(tmp_path / "a.zarr"), "--ops", "some",
                                      str(script)])
    assert result.exit_code == 2 and "'some' is not one of 'off', 'stats', 'full'" in result.output
