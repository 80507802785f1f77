"""The diagnosis of the committed sample pairs (sample_traces/README.md says how each was
made): the equivalent pairs get round-off explanations only, never a fault; the batch-norm
pitfall pair gets its pitfall; a trace against itself gets nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import tftrace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


def codes(a: str, b: str) -> tuple[object, dict[str, dict]]:
    result = tftrace.diff(SAMPLES / f"{a}.zarr.zip", SAMPLES / f"{b}.zarr.zip")
    found = result.first_divergence.diagnosis if result.first_divergence else result.diagnosis
    return result, {d.code: dict(d.evidence) for d in found}


def test_session_against_eager_is_round_off_only():
    """The same slim Inception v2 in a Session and eagerly: equivalent, values close."""
    result, found = codes("inception_v2_session", "inception_v2_eager")
    assert result.equivalent and set(found) == {"noise"}
    assert found["noise"]["norm_rel"] < 1e-6
    assert 'id="diagnosis"' in result.to_html() and "round-off" in result.to_html()


def test_another_tensorflow_version_is_named():
    result, found = codes("inception_v2_session", "inception_v2_session_tf2.15")
    assert result.equivalent and set(found) == {"noise", "environment"}
    assert ["tensorflow", "2.21.0", "2.15.1"] in found["environment"]["differences"]


def test_the_batch_norm_pitfall_pair():
    """B calls the Keras model without training=True: its moving statistics never move."""
    result, found = codes("bn_pitfall_training_true", "bn_pitfall_training_missing")
    assert not result.equivalent and set(found) == {"stale", "training-flag"}
    assert found["training-flag"]["frozen_side"] == "b"


@pytest.mark.parametrize("name", ["inception_v2_session", "bn_pitfall_training_true"])
def test_a_trace_against_itself_has_no_diagnosis(name):
    result, found = codes(name, name)
    assert result.equivalent and found == {}
