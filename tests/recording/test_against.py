"""Recording against a trace: B keeps values only where it diverges from A, prints diff's
report, exits as diff; real TensorFlow runs (a Keras training loop, a tf-slim net)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tests.capture.capture_models import run_session, run_shim
from tests.compare.test_streamed import disagreements
from tftrace.cli import cli
from tftrace.compare.streamed import streamed_diff
from tftrace.report.text import render_text

TRAIN = str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "train_100_steps.py")


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def record_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["record", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A: the 100-step run recorded in full; and the same run recorded with statistics only."""
    where = tmp_path_factory.mktemp("train")
    full, stats = where / "a.zarr", where / "a_stats.zarr"
    assert record_cli("-o", str(full), "--gradients", "full", TRAIN, str(where / "m"))[0] == 0
    assert record_cli("-o", str(stats), "--capture", "stats", "--optimizer", "stats",
                      TRAIN, str(where / "m"))[0] == 0
    return full, stats


def test_equivalent_run_exits_0_and_keeps_no_values(trained, tmp_path):
    full, stats = trained
    b = tmp_path / "b.zarr"
    status, output = record_cli("-o", str(b), "--gradients", "full", "--against", str(full),
                                TRAIN, str(tmp_path / "done"))
    assert status == 0, output
    assert "tftrace diff: EQUIVALENT" in output and (tmp_path / "done").exists()
    trace = tftrace.open(b)
    assert trace.complete and trace.format_version == 5
    assert max(e.step for e in trace.events) == 99  # the 100 steps, 0 to 99
    assert not any(e.stored for e in trace.events)  # statistics and digests only
    assert all(e.digest for e in trace.events if e.dtype is not None)
    assert [p.name for p in (b / "arrays").iterdir()] == ["zarr.json"]  # no array written
    # B is its event log, in the compact form of format 5 (deflated, digests as CRCs: ~25-45
    # bytes an event against ~330 in the plain log of a statistics-only recording of the
    # same run), far from a full one (benchmarks/against.py measures the ratios)
    assert size_of(b) < 0.3 * size_of(stats) and size_of(b) < 0.05 * size_of(full), \
        (size_of(b), size_of(stats), size_of(full))
    # and tftrace diff says what the recording said, which it read one step at a time
    assert tftrace.diff(full, b).equivalent
    assert "The final diff read both traces one step at a time" in output
    final = streamed_diff(full, b)
    assert final.fallback is None and disagreements(final.result, tftrace.diff(full, b)) == []


def run_train(*args: str) -> None:
    import runpy
    import sys
    saved = sys.argv
    sys.argv = [TRAIN, *args]
    try:
        runpy.run_path(TRAIN, run_name="__main__")
    finally:
        sys.argv = saved


def test_final_diff_of_a_diverged_run_is_the_offline_diff(trained, tmp_path):
    """B diverges from step 37 to the end: the diff at the end, read one step at a time,
    has the offline diff's verdict, first divergence, counts and near miss, and lists the
    non-equal pairs only."""
    full, _ = trained
    b = tmp_path / "b.zarr"
    with tftrace.record(b, gradients="full", against=full) as rec:
        run_train(str(tmp_path / "done"), "--change-at", "37")
    result = rec.against.result
    assert rec.against.final == {"streamed": True, "fallback": None}
    offline = tftrace.diff(full, b)  # the two traces loaded whole, aligned globally
    assert disagreements(result, offline) == [], render_text(result)
    assert (result.first_divergence.name, result.first_divergence.step) == ("net/hidden", 37)
    assert result.counts is not None and 0 < len(result.pairs) < result.counts.total
    assert all(p.status != "equal" for p in result.pairs)
    # negative control: against another diff of the same traces (wider tolerances) it fails
    assert disagreements(result, tftrace.diff(full, b, rtol=0.1, atol=0.1))


def test_stop_at_first_divergence_ends_a_100_step_run_at_the_step(trained, tmp_path):
    full, _ = trained
    b = tmp_path / "b.zarr"
    status, output = record_cli("-o", str(b), "--gradients", "full", "--against", str(full),
                                "--stop-at-first-divergence", TRAIN, str(tmp_path / "done"),
                                "--change-at", "37")
    assert status == 1, output
    assert not (tmp_path / "done").exists()  # the loop did not finish: the run ended at step 37
    trace = tftrace.open(b)
    assert (trace.status.status, trace.complete) == ("stopped", False)
    assert max(e.step for e in trace.events) == 37
    last = trace.events[-1]
    assert last.stored and last.step == 37  # the diverging event keeps its values
    offline = tftrace.diff(full, b)
    first = offline.first_divergence
    assert (first.step, first.seq_b) == (37, last.seq), render_text(offline)
    # B stopped (incomplete): read step by step, A's events past B's end are skipped as diff's
    final = streamed_diff(full, b)
    assert final.fallback is None and disagreements(final.result, offline) == []
    # the scaled inputs reach the first layer first: its output at step 37 is where B breaks
    assert (first.kind, first.name) == ("layer", "net/hidden")
    assert "was stopped at its first divergence" in output
    assert "First divergence: layer 'net/hidden', step 37" in output
    # the value stored after its event is the one its statistics were computed from
    value = trace.array(last)
    assert value.shape == last.shape and np.isclose(value.mean(), last.stats.mean, rtol=1e-6)


def test_statistics_only_reference_compares_by_statistics_and_says_so(trained, tmp_path):
    _, stats = trained
    b = tmp_path / "b.zarr"
    status, output = record_cli("-o", str(b), "--optimizer", "stats", "--against", str(stats),
                                "--stop-at-first-divergence", TRAIN, str(tmp_path / "done"),
                                "--change-at", "37")
    assert status == 1, output
    assert "A holds statistics only" in output
    trace = tftrace.open(b)
    assert max(e.step for e in trace.events) == 37
    summary = trace.environment["against"]
    assert summary["a_values"] == "stats" and summary["compared_by"].get("values") is None
    assert tftrace.diff(stats, b).first_divergence.step == 37


def test_window_keeps_the_values_before_the_first_divergence(trained, tmp_path):
    full, _ = trained
    b = tmp_path / "b.zarr"
    with tftrace.record(b, gradients="full", against=full, window=5, stop_at_first_divergence=True):
        run_train(str(tmp_path / "done"), "--change-at", "37")
    trace = tftrace.open(b)
    stored = [e.seq for e in trace.events if e.stored]
    last = trace.events[-1].seq
    # the five events before the diverging one (all of them values), and it
    assert stored[-6:] == list(range(last - 5, last + 1))
    assert not any(e.stored for e in trace.events[:last - 5] if e.kind != "variable")
    # values written after their events read back as the run computed them
    reference = tftrace.open(full)
    for event in trace.events[last - 5:last]:
        twin = reference.events[event.seq]
        assert twin.name == event.name
        np.testing.assert_array_equal(trace.array(event), reference.array(twin))


def test_planted_change_in_a_slim_net_same_first_divergence_as_offline_diff(tmp_path):
    """A: the tf-slim net in a TF1 Session; B: eagerly through the shim with batch-norm
    epsilon changed in conv2 (the middle of the net). Recorded against A, B names the same
    first divergence as the offline diff of a full recording, with its values and inputs."""
    a, b, b_full = tmp_path / "a.zarr", tmp_path / "b.zarr", tmp_path / "b_full.zarr"
    with tftrace.record(a, ops="full", layers="full"):
        run_session()
    with tftrace.record(b_full, ops="full", layers="full"):
        run_shim("epsilon")
    with tftrace.record(b, ops="full", layers="full", against=a) as rec:
        run_shim("epsilon")
    online = rec.against.result
    assert rec.against.final == {"streamed": True, "fallback": None}
    assert disagreements(online, tftrace.diff(a, b)) == []
    offline = tftrace.diff(a, b_full)
    key = lambda r: (r.kind, r.name, r.step, r.seq_a, r.seq_b, r.layer)  # noqa: E731
    assert key(online.first_divergence) == key(offline.first_divergence), render_text(online)
    assert online.first_divergence.layer == "conv2/BatchNorm"
    assert key(tftrace.diff(a, b).first_divergence) == key(offline.first_divergence)
    trace, full = tftrace.open(b), tftrace.open(b_full)
    first = trace.events[online.first_divergence.seq_b]
    np.testing.assert_array_equal(trace.array(first), full.array(full.events[first.seq]))
    inputs = [seq for seq in first.attrs.inputs or () if seq >= 0]
    assert inputs, first.attrs
    for seq in inputs:  # its recorded inputs are in B with their values
        np.testing.assert_array_equal(trace.array(trace.events[seq]), full.array(full.events[seq]))
    # negative control: the events before the window hold no values
    assert not any(e.stored for e in trace.events[:max(0, first.seq - 32)] if e.kind == "op")
    assert size_of(b) < size_of(b_full)


def test_against_a_missing_trace_is_a_usage_error(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("print('ran')\n")
    result = CliRunner().invoke(cli, ["record", "-o", str(tmp_path / "b.zarr"), "--against",
                                      str(tmp_path / "nothing.zarr"), str(script)])
    assert result.exit_code == 2 and "ran" not in result.output, result.output
    assert not os.path.exists(tmp_path / "b.zarr")


def test_stop_without_against_is_a_usage_error(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("print('ran')\n")
    result = CliRunner().invoke(cli, ["record", "-o", str(tmp_path / "b.zarr"),
                                      "--stop-at-first-divergence", str(script)])
    assert result.exit_code == 2 and "needs --against" in result.output


def test_replayed_run_recorded_against_its_source(trained, tmp_path):
    """--replay A --against A: B consumes A's random values and initial weights, and is
    compared with A while it runs (here the planted change is the only difference)."""
    full, _ = trained
    b = tmp_path / "b.zarr"
    status, output = record_cli("-o", str(b), "--gradients", "full", "--replay", str(full),
                                "--against", str(full), "--stop-at-first-divergence",
                                TRAIN, str(tmp_path / "done"), "--change-at", "60")
    assert status == 1, output
    trace = tftrace.open(b)
    assert trace.environment["replay"]["source"] == str(full)
    assert trace.environment["against"]["trace"] == str(full)
    assert max(e.step for e in trace.events) == 60
    assert tftrace.diff(full, b).first_divergence.step == 60
