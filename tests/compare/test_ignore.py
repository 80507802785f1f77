"""``--ignore GLOB``: names left out of both traces, counted per kind, never silently."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tests.conftest import build_event as ev, build_trace as write_trace, build_variable as var, build_weights as weights


def traces(tmp_path):
    a = write_trace(tmp_path / "a.zarr", weights())
    b = write_trace(tmp_path / "b.zarr", weights() + [
        var("loss/total:0", np.float32(3.0)), ev("endpoint", "metrics/loss", np.float32(1.5)),
        ev("endpoint", "metrics/acc", np.float32(0.5))])
    return a, b


def test_ignored_names_are_left_out_and_counted(tmp_path):
    a, b = traces(tmp_path)
    assert not tftrace.diff(a, b).equivalent  # control: the extra names diverge
    result = tftrace.diff(a, b, ignore=["metrics/*", "loss/total"])
    assert result.equivalent
    counts = {s.kind: (s.ignored_a, s.ignored_b) for s in result.summary}
    assert counts["endpoint"] == (0, 2) and counts["variable"] == (0, 1)
    document = json.loads(result.to_json())
    assert document["ignore"] == ["metrics/*", "loss/total"]
    assert document["summary"][0]["ignored_b"] == 1


def test_cli_ignore_shows_what_was_left_out(tmp_path):
    a, b = traces(tmp_path)
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--ignore", "metrics/*",
                                      "--ignore", "loss/total"])
    assert result.exit_code == 0, result.output
    assert ("Summary (close: within tolerance, not equal; ignored_a / ignored_b: events left "
            "out by --ignore 'metrics/*', 'loss/total'):") in result.output
    row = next(line for line in result.output.splitlines() if line.strip().startswith("endpoints"))
    assert row.split()[-2:] == ["0", "2"]


def test_ignoring_everything_is_never_equivalent(tmp_path):
    a, b = traces(tmp_path)
    result = tftrace.diff(a, b, ignore="*")
    assert result.verdict == "nothing-compared" and not result.equivalent


def test_empty_ignore_glob_is_a_usage_error(tmp_path):
    a, b = traces(tmp_path)
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--ignore", ""])
    assert result.exit_code == 2
    assert "expected --ignore GLOB to be a non-empty name glob" in result.output


def test_only_takes_name_globs_as_well_as_kinds(tmp_path):
    a, b = traces(tmp_path)
    assert not tftrace.diff(a, b, only="variables").equivalent  # loss/total is extra
    result = tftrace.diff(a, b, only="variables,dense/*")
    assert result.equivalent and result.kinds == ("variable",)
    assert {p.name for p in result.pairs} == {"dense/kernel:0", "dense/bias:0"}
    cli_result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--only", "dense/*,logit?"])
    assert cli_result.exit_code == 0, cli_result.output
    assert ("compared: variables, random ops, endpoints, snapshots, layers, ops, gradients, optimizer hyperparameters, optimizer state; only names "
            "matching 'dense/*', 'logit?'") in cli_result.output
