"""The diff at the end of a recording against a trace reads both traces one step at a time
(compare/streamed.py): what it holds does not grow with the number of steps, and it finds
what the offline diff finds. Long synthetic traces written with the format's writer; no
TensorFlow (tests/recording/test_against.py checks real runs)."""

from __future__ import annotations

import dataclasses
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tests.recording.test_against_memory import write_run
from tftrace.compare.divergence import diff
from tftrace.compare.result import DiffResult
from tftrace.compare.streamed import streamed_diff
from tftrace.format.reader import open_trace
from tftrace.format.writer import TraceWriter
from tftrace.report.json import diff_document
from tftrace.report.junit import render_junit
from tftrace.report.text import render_text


def disagreements(streamed: DiffResult, offline: DiffResult) -> list[str]:
    """Where the streamed result says something else than the offline diff: the verdict, the
    first divergence (every field), the counts per kind, the pairs compared, the near miss,
    and the listed pairs (the offline diff's non-equal pairs, in order, up to the cap; all of
    them when the streamed comparison fell back to the offline diff)."""
    out = []
    if streamed.verdict != offline.verdict:
        out.append(f"verdict {streamed.verdict} != {offline.verdict}")
    if streamed.first_divergence != offline.first_divergence:
        first = [dataclasses.asdict(f) if f else {} for f in (streamed.first_divergence,
                                                              offline.first_divergence)]
        out.append("first divergence: " + ", ".join(
            f"{k} {first[0].get(k)!r} != {first[1].get(k)!r}" for k in first[1] or first[0]
            if first[0].get(k) != first[1].get(k)))
    if streamed.summary != offline.summary:
        out.append(f"summary {streamed.summary} != {offline.summary}")
    if (streamed.compared, streamed.near_miss) != (offline.compared, offline.near_miss):
        out.append(f"compared, near miss {streamed.compared, streamed.near_miss} != "
                   f"{offline.compared, offline.near_miss}")
    listed = list(offline.pairs) if streamed.counts is None else \
        [p for p in offline.pairs if p.status != "equal"][:streamed.counts.cap]
    if list(streamed.pairs) != listed:
        out.append(f"{len(streamed.pairs)} pairs listed, not the offline diff's {len(listed)}")
    return out


def peak(call: Callable[[], Any]) -> tuple[int, Any]:
    """The tracemalloc peak of ``call()``, and what it returned."""
    tracemalloc.start()
    try:
        returned = call()
        return tracemalloc.get_traced_memory()[1], returned
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_steps(tmp_path: Path) -> None:
    runs = {}
    for steps in (100, 400):
        a, b = tmp_path / f"a{steps}.zarr", tmp_path / f"b{steps}.zarr"
        write_run(a, steps=steps, capture="stats")
        write_run(b, steps=steps, capture="stats")
        runs[steps] = (a, b)
    streamed = {n: peak(lambda: streamed_diff(*runs[n], explain=False)) for n in runs}
    offline = {n: peak(lambda: diff(*runs[n], explain=False))[0] for n in runs}
    # at most one step's events of each trace (step 0: the two variables and five events)
    # and the two variables of each, at any length
    held = {n: streamed[n][1].held for n in runs}
    assert held[100] == held[400] == 2 * (2 + 5) + 2 * 2, held
    assert streamed[100][1].result.equivalent and streamed[400][1].result.counts.total == 2 + 5 * 400
    # four times the steps: the streamed peak stays within 25 %, the offline diff's (the
    # negative control: both traces' events and every pair) grows about four times
    assert streamed[400][0] < 1.25 * streamed[100][0], streamed
    assert offline[400] > 2.5 * offline[100], offline
    assert streamed[400][0] < offline[400] / 4, (streamed, offline)


def test_a_planted_divergence_found_as_the_offline_diff_finds_it(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.zarr", tmp_path / "b.zarr", tmp_path / "c.zarr"
    write_run(a, steps=60)
    write_run(b, steps=60, change_at=23)
    write_run(c, steps=60)
    found = streamed_diff(a, b, pairs_cap=10)
    assert found.fallback is None
    result, offline = found.result, diff(a, b)
    assert disagreements(result, offline) == []
    first = result.first_divergence
    assert (first.kind, first.name, first.step, first.problem) == ("layer", "dense2", 23, "values")
    # 37 diverged layers counted, ten non-equal pairs listed, the rest counted
    layers = next(s for s in result.summary if s.kind == "layer")
    assert (layers.diverged, layers.equal, len(result.pairs)) == (37, 4 * 60 - 37, 10)
    assert result.pairs_not_listed == 2 + 5 * 60 - 10
    document = diff_document(result)
    assert (document["pairs_complete"], document["pairs_not_listed"]) == (False, 300 - 8)
    assert "(292 of 302 pairs not listed: equal pairs are counted" in render_text(result, show_all=True)
    # JUnit counts every pair from the counts, as for the offline diff's whole list
    junit = [ET.fromstring(render_junit(r).split("\n", 1)[1]) for r in (result, offline)]
    assert [(j.get("tests"), j.get("failures")) for j in junit] == [("305", "37")] * 2  # 302 pairs and 3 trace checks; 37 diverged
    # negative control: the comparison of the two results fails on another pair's diff
    assert disagreements(result, diff(a, c))
    assert streamed_diff(a, c).result.equivalent


def test_an_incomplete_reference_falls_back_to_the_offline_diff(tmp_path: Path) -> None:
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_run(b, steps=30)
    write_run(a, steps=30)
    log = sorted((a / "log").iterdir())
    (a / "log" / log[-1].name).unlink()  # the end record goes: A did not complete
    found = streamed_diff(a, b)
    assert found.fallback == "a-incomplete"
    assert disagreements(found.result, diff(a, b)) == []


def write_dropout_run(path: Path, steps: int, extra_at: int | None = None, change_at: int | None = None) -> None:
    """A run drawing one dropout mask per step (and, at ``extra_at``, one more random op),
    then a loss; from ``change_at`` on the mask differs."""
    with TraceWriter.create(path) as writer:
        writer.add_event("variable", "dense/kernel", value=np.ones((2, 2), np.float32))
        index = 0
        for step in range(steps):
            ops = ["RandomUniform", "RandomStandardNormal"] if step == extra_at else ["RandomUniform"]
            for op_type in ops:
                mask = np.full(3, 0.5 if change_at is None or step < change_at else 0.7, np.float32)
                writer.add_event("random_op", f"dropout/{op_type}", step=step, value=mask,
                                 attrs={"op_type": op_type, "seed": [42, index], "seed_index": index,
                                        "initializer": False})
                index += 1
            writer.add_event("endpoint", "loss", step=step, value=np.float32(1.0 / (step + 1)))


def test_random_ops_index_across_steps_and_a_step_with_an_extra_one(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.zarr", tmp_path / "b.zarr", tmp_path / "c.zarr"
    write_dropout_run(a, 12)
    write_dropout_run(b, 12, change_at=7)
    write_dropout_run(c, 12, extra_at=4)
    found = streamed_diff(a, b)
    assert found.fallback is None and disagreements(found.result, diff(a, b)) == []
    first = found.result.first_divergence
    # the random-op index counts from the run's start, as diff counts it: op #7 at step 7
    assert (first.kind, first.step, first.random_index_a, first.random_index_b) == ("random_op", 7, 7, 7)
    # an extra random op in B: diff aligns random ops as one sequence across steps, so the
    # comparison reads the traces whole, and says so
    extra = streamed_diff(a, c)
    assert extra.fallback == "random-ops-differ"
    assert disagreements(extra.result, diff(a, c)) == []
    assert extra.result.first_divergence.status == "extra"


def test_an_unfinished_run_compared_up_to_its_end(tmp_path: Path, monkeypatch: Any) -> None:
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_run(a, steps=30)
    with monkeypatch.context() as patched:  # B's run ends after 12 steps, not completed
        patched.setattr(TraceWriter, "__exit__", lambda writer, *exc: writer.close(complete=False))
        write_run(b, steps=12, change_at=9)
    found = streamed_diff(a, b)
    assert found.result.b.complete is False
    assert found.fallback is None
    assert disagreements(found.result, diff(a, b)) == []
    layers = next(s for s in found.result.summary if s.kind == "layer")
    # A's 18 steps past B's end are skipped (b-ended), not missing
    assert (layers.skipped, layers.missing, layers.diverged) == (4 * 18, 0, 3)
    assert found.result.verdict == "diverged"


def test_an_unfinished_run_missing_an_event_before_its_end_falls_back(tmp_path: Path,
                                                                     monkeypatch: Any) -> None:
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_run(a, steps=6)
    monkeypatch.setattr(TraceWriter, "__exit__", lambda w, *exc: w.close(complete=False))
    with TraceWriter.create(b) as writer:  # B's run stops in step 3, not completed
        weights = np.random.default_rng(0).random((8, 4), dtype=np.float32)  # write_run's
        writer.add_event("variable", "dense/kernel", value=weights)
        writer.add_event("variable", "dense/bias", value=np.zeros(4, np.float32))
        for step in range(3):
            writer.add_event("endpoint", "loss", step=step, value=np.float32(1.0 / (step + 1)))
            for layer in ("dense1", "dense2", "dense3", "dense4")[:3 if step == 2 else 4]:
                writer.add_event("layer", layer, step=step, value=weights * (step + 1))
        # the run stops in step 3 with only an event A does not have: where diff ends B
        # depends on positions the steps before cannot know
        writer.add_event("endpoint", "extra", step=3, value=np.float32(0.0))
    monkeypatch.undo()
    assert open_trace(b).complete is False
    found = streamed_diff(a, b)
    assert found.fallback == "b-ended-early"
    assert disagreements(found.result, diff(a, b)) == []
    # diff ends B at its last event: A's dense4 of step 2 is skipped as after B's end
    first = found.result.first_divergence
    assert (first.name, first.step, first.status) == ("extra", 3, "extra")
    dense4 = next(p for p in found.result.pairs if (p.name, p.step) == ("dense4", 2))
    assert (dense4.status, dense4.skip_reason) == ("skipped", "b-ended")


def write_op_run(path: Path, changed: tuple[int, ...] = ()) -> None:
    """Three steps of one op each; the op at step 2 reads the value the step-1 op recorded;
    the ops of the ``changed`` steps output other values."""
    with TraceWriter.create(path) as writer:
        seqs = []
        for step in range(3):
            inputs = (seqs[-1],) if step == 2 else (-1,)
            value = np.full(3, 2.0 if step in changed else 1.0, np.float32)
            event = writer.add_event("op", "net/Relu:0", step=step, value=value,
                                     attrs={"op_type": "Relu", "output_index": 0, "inputs": list(inputs),
                                            "input_names": ["net/add:0"], "mode": "eager"})
            seqs.append(event.seq)


def test_a_diverged_op_reading_an_earlier_steps_value_falls_back(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.zarr", tmp_path / "b.zarr", tmp_path / "c.zarr"
    write_op_run(a)
    write_op_run(b, changed=(2,))  # the op of step 2 diverges; its input is step 1's event
    write_op_run(c, changed=(1,))  # the op of step 1 diverges; it reads no recorded value
    found = streamed_diff(a, b)
    assert found.fallback == "op-input-earlier-step"
    assert disagreements(found.result, diff(a, b)) == []
    assert (found.result.first_divergence.name, found.result.first_divergence.step) == ("net/Relu:0", 2)
    # the negative control: a divergence whose inputs are in its own step stays streamed
    within = streamed_diff(a, c)
    assert within.fallback is None and disagreements(within.result, diff(a, c)) == []
