"""diff() on trace pairs written with the writer: one scenario per test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tftrace.compare.divergence import diff
from tftrace.format.reader import Trace


@pytest.fixture
def pair(tmp_path, write_trace):
    """Write A and B from event lists; return their paths."""
    made = []

    def make(events_a, events_b, **options):
        made.append(len(made))
        return (write_trace(tmp_path / f"a{len(made)}.zarr", events_a, **options.get("a", {})),
                write_trace(tmp_path / f"b{len(made)}.zarr", events_b, **options.get("b", {})))
    return make


def test_identical_traces_are_equivalent(pair, weights):
    a, b = pair(weights(), weights())
    result = diff(a, b)
    assert result.equivalent and result.first_divergence is None
    summary = {s.kind: (s.compared, s.equal) for s in result.summary}
    assert summary["variable"] == (2, 2) and summary["endpoint"] == (1, 1)
    assert json.loads(result.to_json())["equivalent"] is True


def test_single_element_difference_in_one_weight(pair, var, weights):
    changed = weights()
    kernel = changed[0]["value"].copy()
    kernel[2, 1] += 0.25
    changed[0] = var("dense/kernel:0", kernel)
    a, b = pair(weights(), changed)
    result = diff(a, b)
    first = result.first_divergence
    assert not result.equivalent
    assert (first.kind, first.name, first.seq_a, first.seq_b, first.status, first.problem) == \
        ("variable", "dense/kernel:0", 0, 0, "diverged", "values")
    assert (first.values.mismatched, first.values.size) == (1, 12)
    assert first.values.max_abs_error.index == (2, 1)
    assert first.values.max_abs_error.error == pytest.approx(0.25, rel=1e-6)
    assert (first.call_site_a, first.call_site_b) == ("model.py:10", "model.py:10")
    assert result.broken_stream == "variables"
    report = json.loads(result.to_json())
    assert report["first_divergence"]["values"]["mismatches"][0]["index"] == [2, 1]
    assert report["broken_stream"] == "variables"


def test_shape_mismatch_is_structure(pair, var):
    a, b = pair([var("w", np.zeros((2, 3), np.float32))], [var("w", np.zeros((3, 2), np.float32))])
    first = diff(a, b).first_divergence
    assert (first.problem, first.shape_a, first.shape_b, first.values) == ("shape", (2, 3), (3, 2), None)
    assert first.message == "shape differs: [2, 3] vs [3, 2]"


def test_missing_and_extra_variable(pair, var):
    a, b = pair([var("x", [1.0]), var("y", [2.0])], [var("x", [1.0]), var("z", [2.0])])
    result = diff(a, b)
    statuses = {(p.name, p.status) for p in result.pairs}
    assert statuses == {("x", "equal"), ("y", "missing"), ("z", "extra")}
    assert (result.first_divergence.name, result.first_divergence.status) == ("z", "extra")
    counts = json.loads(result.to_json())["summary"][0]
    assert (counts["missing"], counts["extra"], counts["equal"]) == (1, 1, 1)


def test_renamed_scopes_suggest_and_fix_with_rename(pair, weights):
    ws = weights()
    renamed = [dict(e, name="model/" + e["name"]) if e["kind"] == "variable" else e for e in ws]
    a, b = pair(ws, renamed)
    result = diff(a, b)
    assert [str(r) for r in result.suggested_renames] == ["^model/="]
    assert not result.equivalent
    fixed = diff(a, b, rename=["^model/="])
    assert fixed.equivalent and fixed.suggested_renames == ()
    assert json.loads(fixed.to_json())["rename"] == [{"pattern": "^model/", "replacement": ""}]


def test_random_op_inserted_in_the_middle(pair, rnd):
    ops = [rnd("RandomUniform", (3,), seed=s) if s % 2 else rnd("RandomStandardNormal", (2,), seed=s)
           for s in range(8)]
    extra = rnd("RandomUniform", (128, 10), seed=99)
    a, b = pair(ops, ops[:4] + [extra] + ops[4:])
    result = diff(a, b)
    first = result.first_divergence
    assert (first.kind, first.status, first.random_index_b, first.seq_b, first.shape_b) == \
        ("random_op", "extra", 4, 4, (128, 10))
    assert [(g.side, g.index, g.shifted, g.offset) for g in result.random_gaps] == [("b", 4, 4, 1)]
    statuses = [p.status for p in result.pairs]
    assert statuses.count("equal") == 8 and statuses.count("extra") == 1
    assert result.broken_stream == "random"
    assert json.loads(result.to_json())["random_gaps"][0]["shifted"] == 4


def test_nan_in_different_positions(pair, ev):
    x = np.array([1.0, np.nan, 3.0], np.float32)
    y = np.array([np.nan, 2.0, 3.0], np.float32)
    a, b = pair([ev("endpoint", "loss", x)], [ev("endpoint", "loss", y)])
    first = diff(a, b).first_divergence
    assert (first.problem, first.values.nan_mismatched, first.values.mismatched) == ("nan_inf", 2, 2)
    assert json.loads(diff(a, b).to_json())["first_divergence"]["values"]["mismatches"][0]["b"] == "nan"


def test_int_and_string_mismatch(pair, ev):
    a, b = pair([ev("endpoint", "ids", np.array([1, 2, 3], np.int32)),
                 ev("endpoint", "tokens", np.array([b"a", b"b"], dtype=object))],
                [ev("endpoint", "ids", np.array([1, 2, 4], np.int32)),
                 ev("endpoint", "tokens", np.array([b"a", b"c"], dtype=object))])
    result = diff(a, b, atol=10.0)   # tolerance never applies to integers or strings
    ids, tokens = result.pairs
    assert (ids.status, ids.values.mismatches[0].a, ids.values.mismatches[0].b) == ("diverged", 3, 4)
    assert (tokens.status, tokens.values.mismatches[0].b) == ("diverged", b"c")
    assert json.loads(result.to_json())["pairs"][1]["values"]["mismatches"][0]["b"] == "c"


def test_incomplete_trace_is_compared_up_to_its_last_event(pair, ev, weights):
    full = weights() + [ev("endpoint", "loss", np.float32(1.0), step=1)]
    a, b = pair(full, full[:2], b={"complete": False})
    result = diff(a, b)
    assert result.first_divergence is None and not result.equivalent
    assert {p.name: p.status for p in result.pairs} == {
        "dense/kernel:0": "equal", "dense/bias:0": "equal", "logits": "skipped", "loss": "skipped"}
    assert result.notes == ("B ends early: compared up to its last event, event #1",)
    assert result.verdict == "incomplete"
    report = json.loads(result.to_json())
    assert report["complete"] is False and report["b"]["status"] == "raised"


def test_divergence_before_the_end_of_an_incomplete_trace_is_reported(pair, var, weights):
    changed = weights()
    changed[1] = var("dense/bias:0", np.ones(3, np.float32))
    a, b = pair(weights(), changed[:2], b={"complete": False})
    assert diff(a, b).first_divergence.name == "dense/bias:0"


def test_equal_digests_are_not_read(pair, monkeypatch, weights):
    a, b = pair(weights(), weights())

    def refuse(*args, **kwargs):
        raise AssertionError("array read despite equal digests")
    monkeypatch.setattr(Trace, "iter_blocks", refuse)
    monkeypatch.setattr(Trace, "array", refuse)
    result = diff(a, b)
    assert result.equivalent and {p.compared_by for p in result.pairs} == {"digest"}


def test_stats_only_traces_compare_statistics(pair, var):
    x = np.arange(6, dtype=np.float32)
    a, b = pair([var("w", x)], [var("w", x[::-1].copy())], a={"capture": "stats"}, b={"capture": "stats"})
    # Same min/max/mean, different order: the digest differs, the statistics agree.
    result = diff(a, b)
    assert (result.pairs[0].status, result.pairs[0].compared_by) == ("close", "statistics")
    a2, b2 = pair([var("w", x)], [var("w", x + 1)], a={"capture": "stats"}, b={"capture": "stats"})
    assert diff(a2, b2).first_divergence.problem == "statistics"


def test_stop_at_first_skips_later_values(pair, ev, var, weights):
    changed = weights()
    changed[0] = var("dense/kernel:0", changed[0]["value"] + 1)
    changed[2] = ev("endpoint", "logits", changed[2]["value"] + 1)
    a, b = pair(weights(), changed)
    result = diff(a, b, stop_at_first=True)
    assert [p.status for p in result.pairs] == ["diverged", "skipped", "skipped"]
    assert result.stopped_early
    assert [p.status for p in diff(a, b).pairs] == ["diverged", "equal", "diverged"]


def test_computation_broke_when_inputs_matched(pair, ev, weights):
    changed = weights()
    changed[2] = ev("endpoint", "logits", changed[2]["value"] * 2)
    a, b = pair(weights(), changed)
    result = diff(a, b)
    assert (result.first_divergence.name, result.broken_stream, result.inputs_compared) == \
        ("logits", "computation", True)
    assert not diff(a, b, only="endpoints").inputs_compared


def test_per_name_tolerance_and_close_status(pair, ev):
    x = np.ones(4, np.float32)
    a, b = pair([ev("endpoint", "grads/w", x), ev("endpoint", "loss", x)],
                [ev("endpoint", "grads/w", x + 1e-3), ev("endpoint", "loss", x + 1e-3)])
    result = diff(a, b, tolerances={"grads/*": (1e-2, 0.0)})
    assert [(p.name, p.status) for p in result.pairs] == [("grads/w", "close"), ("loss", "diverged")]


def test_endpoints_by_step_and_occurrence(pair, ev):
    steps = [ev("endpoint", "loss", np.float32(s), step=s) for s in range(3)]
    repeated = [ev("endpoint", "h", np.float32(1)), ev("endpoint", "h", np.float32(2))]
    a, b = pair(steps + repeated, steps[:2] + [ev("endpoint", "loss", np.float32(9), step=2)] + repeated)
    first = diff(a, b).first_divergence
    assert (first.name, first.step, first.seq_a) == ("loss", 2, 2)
    assert [p.occurrence for p in diff(a, b).pairs if p.name == "h"] == [0, 1]


def test_trainable_mismatch(pair, var):
    a, b = pair([var("bn/mean", [0.0], trainable=False)], [var("bn/mean", [0.0], trainable=True)])
    assert diff(a, b).first_divergence.message == "trainable differs: False vs True"


def test_blocks_are_bounded(pair, var):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1000)).astype(np.float32)
    y = x.copy()
    y[63, 999] = 5.0
    a, b = pair([var("big", x)], [var("big", y)])
    values = diff(a, b, block_bytes=4096).first_divergence.values   # 63 blocks of ~4 kB
    assert values.mismatched == 1 and values.max_abs_error.index == (63, 999)


def test_different_cpu_instruction_sets_and_onednn_are_noted(pair, weights):
    env_a = {"cpu": {"model": "Intel Xeon", "flags": ["avx", "avx2", "avx512f", "fma"]},
             "kernels": {"onednn": True, "intra_op_threads": 0}}
    env_b = {"cpu": {"model": "AMD EPYC", "flags": ["avx", "avx2", "fma"]},
             "kernels": {"onednn": False, "intra_op_threads": 0}}
    a, b = pair(weights(), weights(), a={"environment": env_a}, b={"environment": env_b})
    notes = diff(a, b).notes
    assert notes == ("A and B ran on CPUs with different instruction sets (only A: avx512f; only "
                     "B: -): TensorFlow picks other kernels, which round differently",
                     "oneDNN optimizations differ: A True, B False")
    same = pair(weights(), weights(), a={"environment": env_a}, b={"environment": env_a})
    assert diff(*same).notes == ()
