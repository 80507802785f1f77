"""The diagnosis on real port pairs (port_pairs/: TF1 Sessions and tf-slim against Keras 3,
tf-keras shims, eager and tf.function): for every relationship and pitfall, its code is
present for the pair with the fault planted and absent for the correct port (the control);
the evidence holds the numbers the program was written with."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

import tftrace
from tftrace.compare.explain.findings import PITFALLS
from tftrace.lint import check

#: What the diagnosis must say for each pair with its fault.
EXPECTED = {
    "l2_halving": ("scaled", "l2-halving"),
    "cosine_offset": ("offset",),
    "cosine_sign": ("sign-flip",),
    "nchw_flatten": ("permuted", "data-format"),
    "lagged_read": ("lagged",),
    "stale_lr": ("stale", "constant-learning-rate"),
    "mixed_precision": ("lower-precision",),
    "keep_prob": ("masked", "keep-prob-vs-rate"),
    "grappler_norm": ("noise", "grappler-arithmetic"),
    "training_flag": ("training-flag",),
    "cached_random": ("cached-random",),
    "new_variables": ("new-variables-per-call", "stale"),
    "missing_regularization": ("missing-regularization",),
    "bn_epsilon": ("scaled", "default-epsilon"),
}
#: Pitfalls that say the port has a fault (the others explain round-off: a control may have them).
FAULTS = set(PITFALLS) - {"grappler-arithmetic", "environment"}


def diagnosed(a: str, b: str, rename: Any = ()) -> tuple[Any, dict[str, dict[str, Any]]]:
    result = tftrace.diff(a, b, rename=rename)
    found = result.first_divergence.diagnosis if result.first_divergence else result.diagnosis
    return result, {d.code: dict(d.evidence) for d in found}


#: For each pair, numbers of the evidence that come from how the program was written (not
#: from a run): (code, key, expected value).
EVIDENCE: dict[str, list[tuple[str, str, Any]]] = {
    "l2_halving": [("scaled", "c", 2.0)],  # tf.nn.l2_loss halves the sum of squares
    "cosine_offset": [("offset", "c", pytest.approx(-1.0, abs=1e-6))],  # 1 - cos vs -cos
    "keep_prob": [("keep-prob-vs-rate", "keep_prob_a", 0.8),  # keep_prob=0.8 vs Dropout(0.8)
                  ("keep-prob-vs-rate", "keep_prob_b", 0.2)],
    "nchw_flatten": [("data-format", "layout", "NHWC->NCHW")],  # transpose([0, 3, 1, 2])
    "lagged_read": [("lagged", "lag", 1)],  # the kernel read before assign_sub
    "bn_epsilon": [("default-epsilon", "epsilon_a", 1e-5),  # slim epsilon=1e-5
                   ("default-epsilon", "epsilon_b", 1e-3)],  # Keras' default
    "missing_regularization": [("missing-regularization", "regularization_name", "regularization_loss")],
    "cached_random": [("cached-random", "random_op_steps_b", [0])],  # drawn once, before the loop
    "training_flag": [("training-flag", "dropout_random_ops_b", 0)],  # no dropout in inference
    "mixed_precision": [("lower-precision", "dtype_b", "bfloat16")],  # mixed_bfloat16
    "stale_lr": [("constant-learning-rate", "side", "b")],
    "new_variables": [("new-variables-per-call", "calls_b", 3)],  # called 3 times
}


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=sorted(EXPECTED))
def test_fault_is_diagnosed_and_the_control_is_not(name, port_pair):
    rename = getattr(importlib.import_module(f"port_pairs.{name}"), "RENAME", ())
    a = port_pair(name, "a")
    _, fault = diagnosed(a, port_pair(name, "fault"), rename)
    assert set(EXPECTED[name]) <= set(fault), f"{name}: expected {EXPECTED[name]}, got {sorted(fault)}"
    for code, key, expected in EVIDENCE.get(name, []):
        assert fault[code][key] == expected, (code, key, fault[code])
    _, control = diagnosed(a, port_pair(name, "control"), rename)
    assert not set(EXPECTED[name]) & set(control), f"{name} control: {sorted(control)}"
    assert not FAULTS & set(control), f"{name} control: {sorted(control)}"


def test_two_runs_of_the_same_program_have_no_diagnosis(port_pair):
    for name in ("training_flag", "keep_prob"):
        result, found = diagnosed(port_pair(name, "a"), port_pair(name, "a", again=True))
        assert result.verdict == "equivalent" and found == {}, (name, found)


def test_check_finds_random_values_cached_without_replay(port_pair):
    """Replay feeds A's draws to a stateless op with a fixed seed and hides it; the one-trace
    check of B recorded on its own finds it."""
    cached = port_pair("cached_random", "stateless", fault="stateless", replay=False)
    findings = check(cached).findings
    assert [f.code for f in findings] == ["cached-random"]
    assert findings[0].facts["steps"] == [0, 1, 2]
    drawn = port_pair("cached_random", "inside", fault=False, replay=False)
    assert not [f for f in check(drawn).findings if f.code == "cached-random"]


def test_environment_differences_explain_round_off(port_pair):
    """oneDNN on against off, in two processes (the setting is read when TensorFlow starts)."""
    result, found = diagnosed(port_pair("environment", "a"), port_pair("environment", "fault"))
    assert result.first_divergence is None and {"noise", "environment"} <= set(found)
    assert ["onednn", False, True] in found["environment"]["differences"]
