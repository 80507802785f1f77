"""compare/online.py: each event of B judged against A's as it is recorded, with diff's
pairing keys, tolerances, digest proof and statistics (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tftrace
from tftrace.compare.online import OnlineComparison
from tftrace.compare.tolerance import Tolerances
from tftrace.format.writer import TraceWriter
from tests.conftest import build_event, build_random_op, build_trace

KERNEL = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)


def reference(tmp_path: Path, capture: str = "full") -> tftrace.Trace:
    path = build_trace(tmp_path / f"a_{capture}.zarr", [
        build_event("variable", "dense/kernel:0", KERNEL, trainable=True),
        build_random_op("RandomUniform", (2, 2), seed=1),
        build_event("endpoint", "loss", np.float32(0.5)),
        build_event("endpoint", "loss", np.float32(0.25), step=1),
    ], capture=capture)
    return tftrace.open(path)


def judged(trace_a: tftrace.Trace, events: list[tuple[str, str, object, int, dict]], **tolerance):
    """Write B's events as a recording against A does (statistics and digest) and judge each."""
    online = OnlineComparison(trace_a, Tolerances.build(**tolerance))
    out = []
    with TraceWriter.create(Path(str(trace_a.path) + ".b.zarr"), capture="stats", late_values=True,
                            overwrite=True) as b:
        for kind, name, value, step, attrs in events:
            event = b.add_event(kind, name, step=step, value=value, attrs=attrs)
            judgment = online.judge(event, None if value is None else np.asarray(value))
            out.append((judgment.status, judgment.compared_by))
    return out, online


def test_statuses_as_diff_gives_them(tmp_path: Path) -> None:
    a = reference(tmp_path)
    uniform = np.random.default_rng(1).random((2, 2), dtype=np.float32)
    out, online = judged(a, [
        ("variable", "dense/kernel", KERNEL, 0, {"trainable": True}),  # ':0' ignored, as diff
        ("random_op", "r", uniform, 0, {"op_type": "RandomUniform", "seed": [42, 1]}),
        ("endpoint", "loss", np.float32(0.5 + 1e-7), 0, {}),  # within rtol 1e-6, atol 1e-5
        ("endpoint", "loss", np.float32(0.3), 1, {}),
        ("endpoint", "extra", np.float32(1.0), 1, {}),
    ])
    assert out == [("equal", "digest"), ("equal", "digest"), ("close", "values"),
                   ("diverged", "values"), ("unpaired", None)]
    assert online.summary()["statuses"] == {"equal": 2, "close": 1, "diverged": 1, "unpaired": 1}
    # negative control: with no tolerance, the close value is a divergence
    out, _ = judged(a, [("endpoint", "loss", np.float32(0.5 + 1e-7), 0, {})], rtol=0.0, atol=0.0)
    assert out == [("diverged", "values")]


def test_statistics_only_reference_is_compared_by_statistics(tmp_path: Path) -> None:
    a = reference(tmp_path, capture="stats")
    out, online = judged(a, [("variable", "dense/kernel:0", KERNEL * 1.5, 0, {"trainable": True}),
                             ("endpoint", "loss", np.float32(0.5), 0, {})])
    assert out == [("diverged", "statistics"), ("equal", "digest")]
    assert online.summary()["a_values"] == "stats"


def test_shape_change_is_a_structure_divergence(tmp_path: Path) -> None:
    out, _ = judged(reference(tmp_path), [("variable", "dense/kernel:0", KERNEL.T.copy(), 0,
                                           {"trainable": True})])
    assert out == [("diverged", "structure")]


def test_close_values_whose_statistics_differ_are_kept_for_the_final_diff(tmp_path: Path) -> None:
    """Each element within tolerance, the mean (near 0) not: diff on B's statistics alone
    would call it diverged, so the value is marked to be kept."""
    values = np.array([1000.0, -1000.0])
    path = build_trace(tmp_path / "a.zarr", [build_event("endpoint", "x", values)])
    a = tftrace.open(path)
    online = OnlineComparison(a, Tolerances.build())
    with TraceWriter.create(tmp_path / "b.zarr", capture="stats", late_values=True) as b:
        shifted = values + 0.0009
        judgment = online.judge(b.add_event("endpoint", "x", value=shifted), shifted)
        exact = online.judge(b.add_event("endpoint", "x", value=values), values)
    assert (judgment.status, judgment.needs_value) == ("close", True)
    assert (exact.status, exact.needs_value) == ("unpaired", False)  # a second occurrence
