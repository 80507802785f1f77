"""The comparison while recording streams trace A: what it holds of A is bounded by one
step's events (and A's variables), not by the length of the run. Long synthetic traces
written with the format's writer; no TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tftrace.compare.online import OnlineComparison
from tftrace.compare.tolerance import Tolerances
from tftrace.format.reader import open_trace
from tftrace.format.writer import TraceWriter

STEPS = 200
PER_STEP = 5  # events per step: a loss endpoint and four layer outputs


def write_run(path: Path, *, steps: int = STEPS, change_at: int | None = None,
              next_step: bool = True, capture: str = "full") -> None:
    """A training-like run: two variables, then per step a loss and four layer outputs;
    from ``change_at`` on the layer 'dense2' differs."""
    rng = np.random.default_rng(0)
    weights = rng.random((8, 4), dtype=np.float32)
    with TraceWriter.create(path, capture=capture) as writer:
        writer.add_event("variable", "dense/kernel", value=weights)
        writer.add_event("variable", "dense/bias", value=np.zeros(4, np.float32))
        for step in range(steps):
            at = step if next_step else 0
            writer.add_event("endpoint", "loss", step=at, value=np.float32(1.0 / (step + 1)))
            for layer in ("dense1", "dense2", "dense3", "dense4"):
                value = weights * (step + 1)
                if layer == "dense2" and change_at is not None and step >= change_at:
                    value = value * 1.01
                writer.add_event("layer", layer, step=at, value=value)


def compare(a: Path, b: Path) -> tuple[OnlineComparison, list[str], int]:
    """Judge B's events one by one against A, as a recording would; the statuses and the
    most of A's events the comparison held at any moment."""
    trace_a = open_trace(a, load_events=False)
    trace_b = open_trace(b)
    comparison = OnlineComparison(trace_a, Tolerances.build(1e-6, 1e-5, None))
    statuses, most = [], 0
    for event in trace_b.events:
        value = trace_b.array(event) if event.stored else None
        statuses.append(comparison.judge(event, value).status)
        most = max(most, comparison.held())
    trace_a.close()
    trace_b.close()
    return comparison, statuses, most


def test_a_long_reference_is_streamed_not_loaded(tmp_path: Path) -> None:
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_run(a)
    write_run(b)
    opened = open_trace(a, load_events=False)
    assert opened.events == () and opened.event_count == 2 + STEPS * PER_STEP
    assert opened.complete
    opened.close()
    comparison, statuses, most = compare(a, b)
    assert statuses == ["equal"] * (2 + STEPS * PER_STEP)
    assert comparison.summary()["compared_by"] == {"digest": 2 + STEPS * PER_STEP}
    # two variables, the step being compared, and A's next step read ahead
    assert most <= 2 + 2 * PER_STEP + 1, most


def test_a_divergence_is_found_while_streaming(tmp_path: Path) -> None:
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_run(a)
    write_run(b, change_at=150)
    _, statuses, most = compare(a, b)
    diverged = [k for k, status in enumerate(statuses) if status == "diverged"]
    # dense2 is the third event of each step: seq 2 + 5 * step + 2, from step 150 on
    assert diverged == [2 + PER_STEP * step + 2 for step in range(150, STEPS)]
    assert most <= 2 + 2 * PER_STEP + 1


def test_a_statistics_only_reference_compares_by_statistics(tmp_path: Path) -> None:
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_run(a, capture="stats", steps=50)
    write_run(b, steps=50, change_at=10)
    comparison, statuses, _ = compare(a, b)
    assert not comparison.a_has_values
    assert statuses.count("diverged") == 40
    assert comparison.summary()["compared_by"]["statistics"] == 40


def test_negative_control_one_long_step_is_held_whole(tmp_path: Path) -> None:
    """The bound is one step's events: a run that never calls next_step is one step, and
    then all of A is held; so the count above measures what is held."""
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_run(a, next_step=False)
    write_run(b, next_step=False)
    _, statuses, most = compare(a, b)
    assert statuses == ["equal"] * (2 + STEPS * PER_STEP)
    assert most == 2 + STEPS * PER_STEP
