"""A diff that fails only by small amounts says so, suggests the tolerance that would pass,
and compares it with the calibrated noise floor when one is known."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.compare.calibrate import calibrate
from tftrace.report.text import render_text
from tests.conftest import build_event as ev, build_trace as write_trace

BASE = np.linspace(1.0, 2.0, 50).astype(np.float32)


def traces(tmp_path, relative: float):
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", "out", BASE),
                                          ev("endpoint", "out", BASE, step=1)])
    b = write_trace(tmp_path / f"b{relative}.zarr", [
        ev("endpoint", "out", BASE), ev("endpoint", "out", BASE * np.float32(1 + relative), step=1)])
    return a, b


def test_small_differences_suggest_the_tolerance_that_passes(tmp_path):
    a, b = traces(tmp_path, 3e-5)
    result = tftrace.diff(a, b)
    miss = result.near_miss
    assert not result.equivalent and miss is not None
    assert (miss.pairs, miss.worst, miss.worst_step) == (1, "out", 1)
    text = render_text(result)
    assert ("Fails only by small amounts: 1 pair(s) diverge, none by more than 0.1% of the "
            "reference value (worst: 'out' step 1); --rtol 3.1e-05 would pass them.") in text
    assert "No noise floor is known for these names" in text
    # The suggestion is right: with it the diff passes.
    assert CliRunner().invoke(cli, ["diff", str(a), str(b), "--rtol", "3.1e-05"]).exit_code == 0


def test_large_differences_are_not_a_near_miss(tmp_path):
    a, b = traces(tmp_path, 1e-2)
    result = tftrace.diff(a, b)
    assert result.near_miss is None and "Fails only by small amounts" not in render_text(result)


def test_near_miss_against_the_calibrated_floor(tmp_path):
    a, b = traces(tmp_path, 3e-5)
    (tmp_path / "again").mkdir()
    _, again = traces(tmp_path / "again", 1e-7)  # a run differing by round-off only
    tol = tmp_path / "tol.json"
    calibrate([a, again]).write(tol)
    result = tftrace.diff(a, b, tolerances_file=tol)
    assert result.near_miss is not None and result.near_miss.floor_ratio > 1
    assert "Against the calibrated noise floor: the worst is" in render_text(result)
