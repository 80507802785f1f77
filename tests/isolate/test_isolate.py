"""Op isolation on real recordings: the first diverging op re-run eagerly on A's recorded
inputs with A's and with B's attributes (and on B's inputs, when recorded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tftrace
from tests.isolate import isolate_models as models
from tftrace.isolate import explain
from tftrace.report.text import render_text


def isolation(result):
    """The isolation codes on the first divergence."""
    codes = ("attribute", "inherited", "kernel", "not-reproduced", "not-isolated")
    return [d for d in models.first_op(result).diagnosis if d.code in codes]


@pytest.fixture(scope="module")
def conv_a(tmp_path_factory):
    return models.conv_session(tmp_path_factory.mktemp("conv") / "a.zarr")


def test_conv_padding_is_the_attribute_that_gives_b_its_output(conv_a, tmp_path):
    b = models.conv_eager(tmp_path / "b.zarr", padding="VALID")
    result = explain(conv_a, b)
    (found,) = isolation(result)
    assert found.code == "attribute", render_text(result)
    evidence = found.evidence
    assert evidence["op_type"] == "Conv2D" and evidence["attributes"] == [["padding", "SAME", "VALID"]]
    # A's inputs (relu's output, the kernel's initial value) with A's attributes give A's
    # 8x8 output; with B's, B's 6x6 one. B's kernel is an eager variable read: not recorded.
    assert evidence["reproduced"] == {"a_inputs_a_attributes": "a", "a_inputs_b_attributes": "b"}
    assert evidence["inputs_a"] == [[0, "conv/Relu:0", 1], [1, "variable:conv/kernel", 0]]
    text = render_text(result)
    assert "attribute: the op's attributes are the cause (padding: A 'SAME', B 'VALID')" in text
    assert "isolation re-ran op Conv2D ('conv/Conv2D:0') 2 times eagerly with TensorFlow" in text


def test_leaky_relu_alpha_reproduces_b_values(tmp_path):
    a = models.leaky_eager(tmp_path / "a.zarr", alpha=0.2)
    b = models.leaky_eager(tmp_path / "b.zarr", alpha=0.1)
    result = explain(a, b)
    (found,) = isolation(result)
    assert found.code == "attribute", render_text(result)
    assert found.evidence["attributes"] == [["alpha", pytest.approx(0.2), pytest.approx(0.1)]]
    # B recorded its input too (an op output): B's inputs with B's attributes give B's output
    assert found.evidence["reproduced"] == {"a_inputs_a_attributes": "a", "a_inputs_b_attributes": "b",
                                            "b_inputs_b_attributes": "b"}
    # the re-run is checked independently: leaky relu of A's input with alpha 0.1
    with tftrace.open(a) as trace_a:
        first = models.first_op(result)
        event = trace_a.events[first.seq_a]
        source = trace_a.events[event.attrs.inputs[0]]
        x = trace_a.array(source)
    with tftrace.open(b) as trace_b:
        recorded_b = trace_b.array(trace_b.events[first.seq_b])
    np.testing.assert_allclose(np.where(x > 0, x, np.float32(0.1) * x), recorded_b, rtol=1e-6)


def test_exp_passes_on_error_its_inputs_already_had(tmp_path):
    a = models.amplify_eager(tmp_path / "a.zarr")
    b = models.amplify_eager(tmp_path / "b.zarr", perturb=True)
    result = explain(a, b)
    first = models.first_op(result)
    assert first.op_type_a == "Exp", render_text(result)
    # the multiply before it: within tolerance, but not equal
    assert [i.status for i in first.inputs] == ["close"]
    (found,) = isolation(result)
    assert found.code == "inherited", render_text(result)
    assert found.evidence["inputs_differ"] is True and found.evidence["attributes"] == []
    assert found.evidence["reproduced"] == {"a_inputs_a_attributes": "a", "a_inputs_b_attributes": "a",
                                            "b_inputs_b_attributes": "b"}
    assert "inherited: the op passes on error it got" in render_text(result)


def test_equal_runs_have_no_isolation_finding(tmp_path):
    """Negative control: two runs of the same program; nothing is re-run."""
    a = models.leaky_eager(tmp_path / "a.zarr")
    b = models.leaky_eager(tmp_path / "b.zarr")
    result = explain(a, b)
    assert result.equivalent and result.first_divergence is None
    assert result.notes[-1] == "isolation re-ran nothing: no op event diverged (TensorFlow not imported)"


def test_statistics_only_inputs_say_so_and_how_to_record_them(tmp_path):
    a = models.conv_session(tmp_path / "a.zarr", ops="stats")
    b = models.conv_session(tmp_path / "b.zarr", padding="VALID", ops="stats")
    result = explain(a, b)
    (found,) = isolation(result)
    assert found.code == "not-isolated", render_text(result)
    assert found.evidence["missing"] == [[0, "conv/Relu:0", "stats"], ["output", "conv/Conv2D:0", "stats"]]
    assert found.message == (
        "op Conv2D 'conv/Conv2D:0' step 0 was not re-run: A's input 0 'conv/Relu:0': recorded at "
        "statistics level only; its output: recorded at statistics level only. Fix: record A (and B) "
        "with ops='full', op_scopes=['conv/*'] (tftrace record --ops full --op-scope 'conv/*')")
    assert "TensorFlow not imported" in result.notes[-1]


def test_json_holds_the_isolation_under_the_first_divergence(conv_a, tmp_path):
    b = models.conv_eager(tmp_path / "b.zarr", padding="VALID")
    document = json.loads(explain(conv_a, b).to_json())
    codes = [d["code"] for d in document["first_divergence"]["diagnosis"]]
    assert codes[-1] == "attribute"
    assert any(note.startswith("isolation re-ran op Conv2D") for note in document["notes"])


def test_tanh_of_two_tensorflow_versions_is_a_kernel_difference():
    """sample_traces/kernel_tanh_tf2.{21,15}: the same tanh on the same inputs, recorded with
    TensorFlow 2.21 and 2.15 (up to 4 ULP apart). At zero tolerance the first divergence is
    the tanh whose input matched bit for bit, and the re-run names both versions."""
    samples = Path(__file__).resolve().parents[2] / "sample_traces"
    a, b = samples / "kernel_tanh_tf2.21.zarr.zip", samples / "kernel_tanh_tf2.15.zarr.zip"
    result = explain(a, b, rtol=0.0, atol=0.0)
    first = models.first_op(result)
    assert first.op_type_a == "Tanh" and [i.status for i in first.inputs] == ["equal"]
    (found,) = isolation(result)
    assert found.code == "kernel", render_text(result)
    assert found.evidence["tensorflow"] == ["2.21.0", "2.15.1"]
    assert found.evidence["inputs_differ"] is False and found.evidence["attributes"] == []
    # this machine's TensorFlow computes the tanh as one of the two versions did, bit for
    # bit, whichever inputs and attributes it is given (they are the same)
    reproduced = set(found.evidence["reproduced"].values())
    assert len(reproduced) == 1 and reproduced <= {"a", "b"}
    assert "a kernel difference (TensorFlow A 2.21.0, B 2.15.1;" in found.message
    # the control: at the default tolerance the two traces are equivalent, nothing is re-run
    assert explain(a, b).equivalent


def test_a_constant_input_is_named_and_no_recording_fix_is_offered():
    """sample_traces/localize_*: slim's batch norm (scale=False) takes a constant scale, which
    op capture never records; the epsilon is still named by the diff, the op is not re-run."""
    samples = Path(__file__).resolve().parents[2] / "sample_traces"
    result = explain(samples / "localize_session.zarr.zip", samples / "localize_shim_epsilon.zarr.zip")
    (found,) = isolation(result)
    assert found.code == "not-isolated", render_text(result)
    assert found.evidence["missing"] == [[1, "const", "constant"]]
    assert found.message.endswith("A's input 1 'const': a constant (op capture records none): the op "
                                  "cannot be re-run from the trace")
    assert "TensorFlow not imported" in result.notes[-1]
