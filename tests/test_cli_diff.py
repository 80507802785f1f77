"""`tftrace diff` and `tftrace check` on the command line: exit codes, formats, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner


from tftrace.cli import cli  # noqa: E402


@pytest.fixture
def traces(tmp_path, ev, weights, write_trace):
    changed = weights()
    changed[2] = ev("endpoint", "logits", changed[2]["value"] + 1)
    return {"a": write_trace(tmp_path / "a.zarr", weights()),
            "same": write_trace(tmp_path / "same.zarr", weights()),
            "changed": write_trace(tmp_path / "changed.zarr", changed),
            "dir": tmp_path}


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_equivalent_exits_0(traces):
    result = run("diff", traces["a"], traces["same"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tftrace diff: EQUIVALENT\n")


def test_divergence_exits_1_and_leads_with_it(traces):
    result = run("diff", traces["a"], traces["changed"])
    assert result.exit_code == 1
    assert "\nFirst divergence: endpoint 'logits', step 0\n" in result.output
    assert "broke first: computation" in result.output


def test_json_and_output_file(traces):
    out = traces["dir"] / "report.json"
    result = run("diff", traces["a"], traces["changed"], "--format", "json", "-o", out)
    assert result.exit_code == 1 and result.output == ""
    document = json.loads(out.read_text())
    assert document["first_divergence"]["name"] == "logits"
    assert document["first_divergence"]["values"]["mismatched"] == 6


def test_junit_format(traces):
    result = run("diff", traces["a"], traces["changed"], "--format", "junit")
    assert result.exit_code == 1 and '<testsuite name="tftrace.endpoints"' in result.output


def test_options_reach_the_library(traces):
    assert run("diff", traces["a"], traces["changed"], "--tol", "logits=0,2").exit_code == 0
    assert run("diff", traces["a"], traces["changed"], "--atol", "2").exit_code == 0
    assert run("diff", traces["a"], traces["changed"], "--only", "variables").exit_code == 0
    result = run("diff", traces["a"], traces["changed"], "--first", "--all")
    assert "All pairs:" in result.output and result.exit_code == 1


def test_first_stops_comparing_values_at_the_first_divergence(tmp_path, ev, var, weights, write_trace):
    changed = weights()
    changed[0] = var("dense/kernel:0", changed[0]["value"] + 1)
    changed[2] = ev("endpoint", "logits", changed[2]["value"] + 1)
    a, b = write_trace(tmp_path / "a.zarr", weights()), write_trace(tmp_path / "b.zarr", changed)
    stopped = run("diff", a, b, "--first", "--all")
    assert stopped.exit_code == 1
    assert "skipped  endpoint 'logits' (step 0): not compared: stopped at the first divergence" in stopped.output
    assert "(stopped at the first divergence: later values not compared)" in stopped.output
    full = run("diff", a, b, "--all")  # negative control: without --first, logits is compared
    assert "diverged endpoint 'logits'" in full.output and "skipped" not in full.output


def test_rename_option(tmp_path, var, write_trace):
    a = write_trace(tmp_path / "a.zarr", [var("dense/w", [1.0])])
    b = write_trace(tmp_path / "b.zarr", [var("net/dense/w", [1.0])])
    result = run("diff", a, b)
    assert result.exit_code == 1 and "try --rename '^net/='" in result.output
    assert run("diff", a, b, "--rename", "^net/=").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (("missing.zarr", "a"), "no such trace"),
    (("not_a_trace", "a"), "not_a_trace"),
    (("a", "a", "--tol", "grads/*=1e-4"), "expected --tol GLOB=RTOL,ATOL"),
    (("a", "a", "--only", "weights"), "expected --only values among variables, random, endpoints, "
                                      "snapshots, optimizer-state or name globs (with * ? [), got 'weights'"),
    (("a", "a", "--rename", "([=x"), "valid regular expression"),
    (("a", "a", "--rtol", "-1"), "expected rtol to be a finite number >= 0"),
    (("a", "a", "--format", "xml"), "'xml' is not one of 'text', 'json', 'junit'"),
], ids=["missing-path", "not-a-trace", "bad-tol", "bad-only", "bad-rename", "negative-rtol", "bad-format"])
def test_bad_input_exits_2_with_one_line(traces, args, message):
    (traces["dir"] / "not_a_trace").write_text("hello")
    paths = {"a": traces["a"], "missing.zarr": traces["dir"] / "missing.zarr",
             "not_a_trace": traces["dir"] / "not_a_trace"}
    result = run("diff", *[paths.get(x, x) for x in args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1 or args[-2] == "--format"


def test_check_command(tmp_path, var, write_trace):
    clean = write_trace(tmp_path / "clean.zarr", [var("w", [1.0, 2.0])])
    nan = write_trace(tmp_path / "nan.zarr", [var("w", [1.0, np.nan])])
    assert run("check", clean).exit_code == 0
    result = run("check", nan)
    assert result.exit_code == 1 and "nan-inf (1):" in result.output
    assert json.loads(run("check", nan, "--format", "json").output)["findings"][0]["code"] == "nan-inf"
    assert run("check", tmp_path / "nothing.zarr").exit_code == 2


def test_real_subprocess_never_imports_tensorflow(traces):
    code = ("import sys\n"
            "from tftrace.cli import cli\n"
            "try:\n"
            f"    cli.main(['diff', {str(traces['a'])!r}, {str(traces['changed'])!r}, '--format', 'json'])\n"
            "except SystemExit as exc:\n"
            "    print('exit', exc.code, 'tensorflow' in sys.modules, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip().splitlines()[-1] == "exit 1 False"
    assert json.loads(proc.stdout)["first_divergence"]["name"] == "logits"


def test_real_subprocess_entry_point(traces):
    exe = Path(sys.executable).parent / "tftrace"
    proc = subprocess.run([str(exe), "diff", str(traces["a"]), str(traces["dir"] / "nope.zarr")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: ")
    ok = subprocess.run([str(exe), "diff", str(traces["a"]), str(traces["same"])],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
