"""`tftrace explain` and the diff's diagnosis switches, through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.isolate import isolate_models as models
from tftrace.cli import cli


@pytest.fixture(scope="module")
def padding_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("padding")
    return models.conv_session(root / "a.zarr"), models.conv_eager(root / "b.zarr", padding="VALID")


def test_explain_prints_the_isolation_and_exits_1(padding_pair):
    run = CliRunner().invoke(cli, ["explain", *padding_pair])
    assert run.exit_code == 1, run.output
    assert "    attribute: the op's attributes are the cause (padding: A 'SAME', B 'VALID')" in run.output
    assert "  note: isolation re-ran op Conv2D ('conv/Conv2D:0') 2 times eagerly with TensorFlow" in run.output


def test_explain_json_and_options_as_diff(padding_pair):
    run = CliRunner().invoke(cli, ["explain", *padding_pair, "--format", "json", "--atol", "1e-4",
                                   "--only", "ops"])
    assert run.exit_code == 1, run.output
    document = json.loads(run.output)
    assert document["tolerance"]["atol"] == 1e-4 and document["kinds"] == ["op"]
    assert document["first_divergence"]["diagnosis"][-1]["code"] == "attribute"


def test_explain_of_equal_runs_exits_0_without_tensorflow_work(tmp_path):
    a = models.leaky_eager(tmp_path / "a.zarr")
    b = models.leaky_eager(tmp_path / "b.zarr")
    run = CliRunner().invoke(cli, ["explain", a, b])
    assert run.exit_code == 0, run.output
    assert "note: isolation re-ran nothing: no op event diverged (TensorFlow not imported)" in run.output


def test_explain_of_a_missing_trace_is_exit_2(tmp_path):
    run = CliRunner().invoke(cli, ["explain", str(tmp_path / "nope.zarr"), str(tmp_path / "nope.zarr")])
    assert run.exit_code == 2 and "Traceback" not in run.output


def test_diff_never_reruns_an_op(padding_pair):
    """The same pair through diff: the diagnosis without isolation, and no TensorFlow note."""
    run = CliRunner().invoke(cli, ["diff", *padding_pair])
    assert run.exit_code == 1
    assert "First divergence: op 'conv/Conv2D:0', step 0" in run.output
    assert "isolation" not in run.output and "attribute:" not in run.output
