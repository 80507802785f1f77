"""With no endpoint placed, the diff of a tf-slim net run in a TF1 Session (A) and the
same net run eagerly through the shim (B) names the changed op and its layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tftrace
from tests.capture.capture_models import run_session, run_shim
from tftrace.report.text import render_text


@pytest.fixture(scope="module")
def session_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("a") / "a.zarr"
    with tftrace.record(path, ops="full", layers="full"):
        run_session()
    return path


def record_shim(path, change):
    with tftrace.record(path, ops="full", layers="full"):
        run_shim(change)
    return path


def test_unchanged_net_is_equivalent_across_session_and_shim(session_trace, tmp_path):
    result = tftrace.diff(session_trace, record_shim(tmp_path / "b.zarr", "none"))
    assert result.first_divergence is None, render_text(result)
    # the layers and the ops inside them were paired and compared, not only listed
    layers = {p.name for p in result.pairs if p.kind == "layer" and p.status == "equal"}
    assert layers == {"conv1/BatchNorm", "conv1", "conv2/BatchNorm", "conv2", "logits"}
    ops = [p for p in result.pairs if p.kind == "op" and p.status == "equal"]
    assert {p.op_type_a for p in ops} >= {"Conv2D", "FusedBatchNormV3", "Relu", "BiasAdd"}
    assert result.equivalent


def test_changed_activation_names_the_layer_and_both_ops(session_trace, tmp_path):
    result = tftrace.diff(session_trace, record_shim(tmp_path / "b.zarr", "activation"))
    first = result.first_divergence
    assert (first.kind, first.name, first.step) == ("layer", "conv2", 0), render_text(result)
    assert (first.ops_only_a, first.ops_only_b) == (("Relu",), ("Tanh",))
    assert "ops of layer conv2 run by one side only: A Relu; B Tanh" in render_text(result)


def test_changed_batch_norm_epsilon_names_the_op_and_its_attribute(session_trace, tmp_path):
    result = tftrace.diff(session_trace, record_shim(tmp_path / "b.zarr", "epsilon"))
    first = result.first_divergence
    assert (first.kind, first.op_type_a, first.layer) == ("op", "FusedBatchNormV3", "conv2/BatchNorm"), \
        render_text(result)
    differences = {d.attribute: (d.a, d.b) for d in first.attribute_differences}
    # the op's float attributes are float32: 1e-3 and 1e-5 as TensorFlow stores them
    assert differences == {"epsilon": (float(np.float32(1e-3)), float(np.float32(1e-5)))}
    # its recorded input (conv2's convolution) matched: this op is where it breaks
    recorded = [i for i in first.inputs if i.seq_a is not None]
    assert [i.status for i in recorded] == ["equal"] and recorded[0].name == "conv2/Conv2D:0"
    text = render_text(result)
    assert "attribute epsilon: A 0.001, B 1e-05" in text and "layer: conv2/BatchNorm" in text


def test_changed_padding_names_the_convolution_and_its_attribute(session_trace, tmp_path):
    result = tftrace.diff(session_trace, record_shim(tmp_path / "b.zarr", "padding"))
    first = result.first_divergence
    assert (first.kind, first.op_type_a, first.layer, first.problem) == \
        ("op", "Conv2D", "conv2", "shape"), render_text(result)
    assert (first.shape_a, first.shape_b) == ((2, 8, 8, 4), (2, 6, 6, 4))
    differences = {d.attribute: (d.a, d.b) for d in first.attribute_differences}
    assert differences == {"padding": ("SAME", "VALID")}


def test_committed_sample_pair_names_the_op_and_its_attribute():
    """sample_traces/ (format 3, read with the current reader): the same localization."""
    samples = Path(__file__).resolve().parents[2] / "sample_traces"
    result = tftrace.diff(samples / "localize_session.zarr.zip",
                          samples / "localize_shim_epsilon.zarr.zip")
    first = result.first_divergence
    assert (first.name, first.layer) == ("conv2/BatchNorm/FusedBatchNormV3:0", "conv2/BatchNorm")
    assert [(d.attribute, d.a, d.b) for d in first.attribute_differences] == \
        [("epsilon", float(np.float32(1e-3)), float(np.float32(1e-5)))]
