"""The diagnosis in every report format, on a real pair (tf-slim's l2_regularizer against
Keras' L2 in a tf.function), and the environment fields the environment diagnosis reads."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

import tftrace
from tftrace.report.json import render_json
from tftrace.report.junit import render_junit
from tftrace.report.text import render_text

L2_LINE = ("l2-halving: the regularization is 2x (at endpoint 'regularization_loss' step 0): "
           "tf.nn.l2_loss (slim's l2_regularizer) is sum(w**2) / 2, Keras' L2 is sum(w**2). Fix: L2(scale / 2)")


@pytest.fixture(scope="module")
def l2_result(port_pair):
    from port_pairs import l2_halving

    return tftrace.diff(port_pair("l2_halving", "a"), port_pair("l2_halving", "fault"),
                        rename=l2_halving.RENAME)


def test_json_has_the_diagnosis_on_the_first_divergence(l2_result):
    document = json.loads(render_json(l2_result))
    assert document["report_version"] == 4 and document["diagnosis"] == []
    diagnosis = document["first_divergence"]["diagnosis"]
    assert [d["code"] for d in diagnosis] == ["scaled", "l2-halving"]
    assert diagnosis[0] == {"code": "scaled", "message": "B = 2 * A (at endpoint 'regularization_loss' step 0)",
                            "evidence": {"at": {"kind": "endpoint", "name": "regularization_loss", "step": 0},
                                         "c": 2.0, "residual": 0.0}}
    assert f"{diagnosis[1]['code']}: {diagnosis[1]['message']}" == L2_LINE


def test_text_and_junit_list_the_diagnosis(l2_result):
    text = render_text(l2_result).splitlines()
    at = text.index("  diagnosis:")
    assert text[at + 1:at + 3] == ["    scaled: B = 2 * A (at endpoint 'regularization_loss' step 0)",
                                   f"    {L2_LINE}"]
    root = ET.fromstring(render_junit(l2_result))
    failures = [f.text or "" for f in root.iter("failure")]
    assert any(L2_LINE in body for body in failures)


def test_html_shows_the_diagnosis(l2_result):
    page = l2_result.to_html()
    assert 'id="diagnosis"' in page and "l2-halving" in page and "tf.nn.l2_loss" in page


def test_diff_without_explain_has_no_diagnosis(port_pair):
    from port_pairs import l2_halving

    result = tftrace.diff(port_pair("l2_halving", "a"), port_pair("l2_halving", "fault"),
                          rename=l2_halving.RENAME, explain=False)
    assert result.first_divergence is not None and result.first_divergence.diagnosis == ()


def test_the_environment_records_the_dtype_policy(tmp_path):
    import keras

    from port_pairs import common

    common.reset_keras()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        with tftrace.record(tmp_path / "run.zarr", seed=1):
            keras.layers.Dense(2)(keras.ops.ones((1, 3)))
    finally:
        keras.config.set_dtype_policy("float32")
    with tftrace.record(tmp_path / "plain.zarr", seed=1):
        keras.layers.Dense(2)(keras.ops.ones((1, 3)))
    policy = tftrace.open(tmp_path / "run.zarr").environment["kernels"]["dtype_policy"]
    plain = tftrace.open(tmp_path / "plain.zarr").environment["kernels"]["dtype_policy"]
    assert policy["keras"] == "mixed_bfloat16" and plain["keras"] == "float32"


def test_statistics_only_traces_say_what_was_not_decided(tmp_path):
    """``--capture stats`` keeps no values: the diagnosis names what it could not test
    instead of guessing from statistics."""
    from port_pairs import common, l2_halving

    full, a, b = str(tmp_path / "full.zarr"), str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")
    l2_halving.record_a(full)  # replay takes its values from a full trace
    with common.recording(a, capture="stats") as rec:
        l2_halving.run_a(rec)
    with common.recording(b, source=full, rename=l2_halving.RENAME, capture="stats") as rec:
        l2_halving.run_b(rec, True)
    result = tftrace.diff(a, b, rename=l2_halving.RENAME)
    assert result.first_divergence.compared_by == "statistics"
    found = {d.code: d for d in result.first_divergence.diagnosis}
    assert "scaled" not in found and "l2-halving" not in found
    assert found["not-decided"].evidence["reasons"] == ["values-not-stored"]
    assert found["not-decided"].message.startswith(
        "not decided (at endpoint 'regularization_loss' step 0): the values could not be read")
