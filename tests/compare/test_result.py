"""The diff result is data; report/words.py words it (every status, problem and note)."""

from __future__ import annotations

import pytest

from tftrace.compare.result import DiffResult, Note, PairResult, TraceInfo
from tftrace.compare.tolerance import Tolerances
from tftrace.report.words import note_sentence, pair_message


def result(pairs=(), complete=(True, True), allow_incomplete=False, first=None) -> DiffResult:
    return DiffResult(a=TraceInfo("a", complete[0], 1), b=TraceInfo("b", complete[1], 1),
                      tolerances=Tolerances.build(1e-6, 1e-5), kinds=("variable",), pairs=tuple(pairs),
                      first_divergence=first, broken_stream=None, inputs_compared=True,
                      allow_incomplete=allow_incomplete,
                      note_facts=(Note("ends-early", {"side": "b", "last_seq": 4}),))


def pair(status: str, **fields) -> PairResult:
    return PairResult(kind="variable", name="w", status=status, seq_a=0, seq_b=0, **fields)


def test_verdicts_in_order_of_importance() -> None:
    equal = pair("equal")
    assert result([equal]).verdict == "equivalent" and result([equal]).equivalent
    assert result([]).verdict == "nothing-compared"
    assert result([equal], complete=(True, False)).verdict == "incomplete"
    assert result([equal], complete=(True, False), allow_incomplete=True).verdict == "equivalent-prefix"
    assert result([equal, pair("gap", problem="not_captured", gap_reason="xla")]).verdict == "capture-gap"
    diverged = pair("diverged", problem="dtype", dtype_a="float32", dtype_b="float16")
    assert result([diverged], first=diverged).verdict == "diverged"


@pytest.mark.parametrize("found, sentence", [
    pytest.param(pair("skipped", skip_reason="stopped"), "not compared: stopped at the first divergence", id="stopped"),
    pytest.param(pair("skipped", skip_reason="b-ended"), "not compared: B is incomplete and ends before this event", id="b-ended"),
    pytest.param(PairResult("variable", "w", "gap", seq_a=0, gap_reason="xla"),
                 "variable only in A; B did not capture it (xla)", id="gap-b"),
    pytest.param(PairResult("random_op", "r", "extra", seq_b=3), "random op only in B (extra)", id="extra"),
    pytest.param(PairResult("snapshot", "w", "missing", seq_a=3), "snapshot only in A (missing from B)", id="missing"),
    pytest.param(pair("diverged", problem="shape", shape_a=(2, 3), shape_b=None), "shape differs: [2, 3] vs None", id="shape"),
    pytest.param(pair("diverged", problem="op_type", op_type_a="RandomUniform", op_type_b="TruncatedNormal"),
                 "op type differs: RandomUniform vs TruncatedNormal", id="op-type"),
    pytest.param(pair("diverged", problem="trainable", differences=(("trainable", True, False),)),
                 "trainable differs: True vs False", id="trainable"),
    pytest.param(pair("diverged", problem="statistics", compared_by="statistics",
                      differences=(("nan_count", 0, 2), ("mean", 0.5, 0.25))),
                 "values not stored; statistics differ: nan_count 0 vs 2, mean 0.5 vs 0.25", id="statistics"),
    pytest.param(pair("close", compared_by="statistics"), "values not stored; digests differ, statistics agree",
                 id="statistics-agree"),
    pytest.param(pair("equal", compared_by="digest"), "equal (same content digest)", id="digest"),
    pytest.param(pair("equal"), "no value recorded", id="no-value"),
])
def test_each_pair_is_worded_from_its_codes(found: PairResult, sentence: str) -> None:
    assert pair_message(found) == sentence == found.message
    assert found.to_dict()["message"] == sentence


def test_notes_are_worded_from_their_facts() -> None:
    assert result([pair("equal")]).notes == ("B ends early: compared up to its last event, event #4",)
    assert note_sentence(Note("kernel-setting", {"setting": "intra_op_threads", "a": 0, "b": 4})) == \
        "intra-op threads differ: A 0, B 4"
    assert note_sentence(Note("cpu-model", {"a": "X", "b": "Y"})) == "A and B ran on different CPU models (X vs Y)"
    with pytest.raises(ValueError, match="expected a note code"):
        note_sentence(Note("unknown"))
