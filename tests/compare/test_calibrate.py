"""``tftrace calibrate`` and ``diff --tolerances``: per-name tolerances from the spread
between recordings of one program, judged by the norm-relative measure.

The port scenario (port_model.py) with a bias before batch norm: the plain diff fails the
correct port (the bias is ill-conditioned under Adam); tolerances calibrated from A and A
with its initial weights moved by one ULP pass it, and still fail each planted fault.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.compare import port_model as pm
import tftrace
from tftrace.cli import cli
from tftrace.compare.calibrate import NORM_FLOOR, calibrate, load_tolerances
from tftrace.errors import UsageError
from tests.conftest import build_event as ev, build_trace as write_trace, build_variable as var


@pytest.fixture(scope="module")
def biased(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("biased")
    a = pm.record_a(root / "a.zarr", conv_bias=True)
    return {"a": a, "perturbed": pm.record_a(root / "a_ulp.zarr", conv_bias=True, perturb=1),
            "again": pm.record_a(root / "a_again.zarr", conv_bias=True),
            "port": pm.record_b(root / "b.zarr", a, conv_bias=True), "dir": str(root)}


def test_calibrated_tolerances_pass_the_correct_port(biased):
    runner = CliRunner()
    tol = f"{biased['dir']}/tol.json"
    made = runner.invoke(cli, ["calibrate", biased["a"], biased["perturbed"], "-o", tol])
    assert made.exit_code == 0, made.output
    assert "net/conv1/bias:0" in made.output and "ill-conditioned" in made.output
    # Negative control: without the file the bias fails, at the first step Adam amplifies it.
    plain = tftrace.diff(biased["a"], biased["port"])
    assert (plain.first_divergence.name, plain.first_divergence.step) == ("net/conv1/bias:0", 1)
    calibrated = runner.invoke(cli, ["diff", biased["a"], biased["port"], "--tolerances", tol])
    assert calibrated.exit_code == 0, calibrated.output
    document = json.loads(open(tol).read())
    bias = document["names"]["net/conv1/bias:0"]
    assert bias["ill_conditioned"] and bias["limit"] > 1.0
    assert document["names"]["logits"]["limit"] == NORM_FLOOR


@pytest.mark.parametrize("planted,kind,name,step", [
    ({"bn_epsilon": 1e-5}, "endpoint", "logits", 0),
    ({"lr_once": True}, "snapshot", "net/conv1/kernel:0", 1),
    ({"adam_epsilon": 1e-7}, "snapshot", "net/conv1/kernel:0", 0),
], ids=["bn-epsilon", "learning-rate-once", "adam-epsilon"])
def test_calibrated_tolerances_still_fail_each_planted_fault(biased, tmp_path, planted, kind,
                                                             name, step):
    tol = tmp_path / "tol.json"
    calibrate([biased["a"], biased["perturbed"]]).write(tol)
    b = pm.record_b(tmp_path / "b.zarr", biased["a"], conv_bias=True, **planted)
    result = tftrace.diff(biased["a"], b, tolerances_file=tol)
    first = result.first_divergence
    assert (first.kind, first.name, first.step) == (kind, name, step)
    assert first.values.norm_rel_error > first.values.limit


def test_bit_equal_runs_say_so_and_give_the_floor(biased, tmp_path):
    calibration = calibrate([biased["a"], biased["again"]])
    assert calibration.bit_equal
    assert {s.limit(calibration.safety_factor, calibration.norm_floor)
            for s in calibration.spreads} == {NORM_FLOOR}
    result = CliRunner().invoke(cli, ["calibrate", biased["a"], biased["again"], "-o",
                                      str(tmp_path / "tol.json")])
    assert result.exit_code == 0
    assert "the runs are bit-equal: no spread to calibrate from" in result.output


def test_spread_is_measured_per_name_over_steps_and_runs(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 4)).astype(np.float32)
    noise = [rng.standard_normal((3, 4)).astype(np.float32) * s for s in (1e-4, 1e-3)]

    def run(path, deltas):
        return write_trace(path, [var("w:0", base)] + [
            ev("endpoint", "out", base + d, step=k) for k, d in enumerate(deltas)])

    a = run(tmp_path / "a.zarr", [0 * base, 0 * base])
    b = run(tmp_path / "b.zarr", noise)
    c = run(tmp_path / "c.zarr", [noise[1], noise[0]])
    spread = {s.name: s for s in calibrate([a, b, c], safety_factor=3.0).spreads}
    # The traces hold float32 base + noise: the spread is measured from those values.
    stored = [(base + n).astype(np.float64) - base.astype(np.float64) for n in noise]
    expected = max(float(np.linalg.norm(d) / np.linalg.norm(base.astype(np.float64))) for d in stored)
    out = spread["out"]
    assert out.compared == 4 and out.norm_relative == pytest.approx(expected, rel=1e-5)
    assert out.max_abs == pytest.approx(max(float(np.abs(d).max()) for d in stored), rel=1e-6)
    assert spread["w:0"].norm_relative == 0
    rules = {r.glob: r.tolerance for r in calibrate([a, b, c], safety_factor=3.0).rules()}
    assert rules["out"].limit == pytest.approx(3 * expected, rel=1e-5)
    assert rules["out"].measure == "norm_relative"


def test_measures_by_name_in_the_api(tmp_path):
    """norm_relative and cosine per name: pass a small relative change, still fail a big one."""
    x = np.linspace(-1, 1, 100).astype(np.float32)
    small = x.copy()
    small[50] += 1e-3  # near zero: a large element-wise relative error, tiny in norm
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", "out", x)])
    b = write_trace(tmp_path / "b.zarr", [ev("endpoint", "out", small)])
    c = write_trace(tmp_path / "c.zarr", [ev("endpoint", "out", x * 1.01)])
    assert not tftrace.diff(a, b).equivalent
    for measure, limit in (("norm_relative", 1e-3), ("cosine", 1e-6)):
        tolerances = {"out": {"measure": measure, "limit": limit}}
        assert tftrace.diff(a, b, tolerances=tolerances).equivalent, measure
    assert not tftrace.diff(a, c, tolerances={"out": {"measure": "norm_relative", "limit": 1e-3}}).equivalent


@pytest.mark.parametrize("content,message", [
    ("not json", "expected a JSON tolerances file"),
    ('{"format": "other"}', "expected a tolerances file with format 'tftrace-tolerances'"),
    ('{"format": "tftrace-tolerances", "version": 9}', "expected tolerances file version 1"),
    ('{"format": "tftrace-tolerances", "version": 1, "names": {"x": {"measure": "l7"}}}',
     "expected a tolerance measure among"),
], ids=["not-json", "foreign", "version", "measure"])
def test_bad_tolerances_file_exits_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "tol.json"
    path.write_text(content)
    with pytest.raises(UsageError, match="expected"):
        load_tolerances(path)
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", "out", np.zeros(2, np.float32))])
    result = CliRunner().invoke(cli, ["diff", str(a), str(a), "--tolerances", str(path)])
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_calibrate_needs_two_runs(tmp_path):
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", "out", np.zeros(2, np.float32))])
    result = CliRunner().invoke(cli, ["calibrate", str(a), "-o", str(tmp_path / "t.json")])
    assert result.exit_code == 2
    assert "expected two or more runs to calibrate from, got 1" in result.output
