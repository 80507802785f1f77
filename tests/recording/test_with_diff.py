"""Recorded traces through the diff engine and the one-trace check."""

from __future__ import annotations

import pytest
import tensorflow as tf

import tftrace
from tests.recording.slim_models import run_session, run_shim
from tftrace.lint import check


@pytest.mark.parametrize("is_training", [pytest.param(False, id="inference"),
                                         pytest.param(True, id="training")])
def test_session_and_shim_traces_are_equivalent_for_the_diff(tmp_path, is_training):
    with tftrace.record(tmp_path / "s.zarr"):
        run_session("small", is_training, steps=1)
    with tftrace.record(tmp_path / "e.zarr"):
        run_shim("small", is_training, steps=1)
    result = tftrace.diff(tmp_path / "s.zarr", tmp_path / "e.zarr")
    assert result.equivalent, result.to_json()


def test_diff_finds_a_changed_seed(tmp_path):
    with tftrace.record(tmp_path / "a.zarr", seed=1):
        run_shim("small", True)
    with tftrace.record(tmp_path / "b.zarr", seed=2):
        run_shim("small", True)
    result = tftrace.diff(tmp_path / "a.zarr", tmp_path / "b.zarr")
    assert not result.equivalent


def test_check_flags_variables_created_after_the_first_call(tmp_path):
    class BrokenScalingLayer(tf.keras.layers.Layer):
        def call(self, inputs):
            return inputs * tf.Variable(tf.ones([]), name="scale")

    with tftrace.record(tmp_path / "t.zarr"):
        layer = BrokenScalingLayer()
        layer(tf.ones(2))
        layer(tf.ones(2))
    findings = check(tmp_path / "t.zarr").findings
    assert [f.code for f in findings if f.code == "late-variable"] == ["late-variable"]
