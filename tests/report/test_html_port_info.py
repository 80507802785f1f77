"""The HTML report says what the text report says about optimizer state, --ignore,
--only name globs, near misses and calibrated (whole-array) tolerances."""

from __future__ import annotations

import html

import numpy as np

from tftrace.compare.divergence import diff
from tftrace.report.html import render_html
from tftrace.report.text import render_text

KERNEL = np.arange(6, dtype=np.float32).reshape(2, 3) / 10


def _plain(page: str) -> str:
    return html.unescape(page)


def _adam_pair(tmp_path, write_trace, var, ev, moment_b):
    """TF1 Adam (slots ``Adam`` / ``Adam_1``) against Keras 3 Adam (``adam/..._momentum``)."""
    a = write_trace(tmp_path / "a.zarr", [
        var("dense/kernel:0", KERNEL), var("dense/kernel/Adam:0", KERNEL * 0, trainable=False),
        var("dense/kernel/Adam_1:0", KERNEL * 0, trainable=False),
        ev("endpoint", "loss", np.float32(1.0))])
    b = write_trace(tmp_path / "b.zarr", [
        var("dense/kernel:0", KERNEL), var("adam/dense_kernel_momentum", moment_b, trainable=False),
        var("adam/dense_kernel_velocity", KERNEL * 0, trainable=False),
        ev("endpoint", "loss", np.float32(1.0)), ev("endpoint", "metrics/acc", np.float32(0.5))])
    return a, b


def test_optimizer_state_and_ignore_in_html_as_in_text(tmp_path, write_trace, var, ev):
    a, b = _adam_pair(tmp_path, write_trace, var, ev, KERNEL + 1)
    result = diff(a, b, ignore=["metrics/*"])
    first = result.first_divergence
    assert (first.kind, first.name, first.name_b) == (
        "optimizer_state", "dense/kernel/Adam:0", "adam/dense_kernel_momentum")
    text, page = render_text(result), _plain(render_html(result))
    state = ("A TF1 Adam first_moment of dense/kernel; "
             "B Keras 3 adam first_moment of dense/kernel")
    assert f"optimizer state: {state}" in text
    assert f"<th>optimizer state</th><td>{state}</td>" in page
    assert "ignored_a / ignored_b: events left out by --ignore 'metrics/*'" in text
    assert "ignored_a / ignored_b: events left out by --ignore 'metrics/*'" in page
    # The summary row of optimizer state: 2 compared, 1 diverged; endpoints: 1 ignored in B.
    assert "<tr><th>optimizer state</th><td class=\"\">2</td>" in page
    assert "<th>ignored_a</th><th>ignored_b</th>" in page
    assert "optimizer state: the weights and computation before it matched" in page


def test_without_optimizer_state_there_is_no_row(tmp_path, write_trace, var, ev):
    """Negative control: traces without optimizer state show no row for it."""
    a = write_trace(tmp_path / "a.zarr", [var("dense/kernel:0", KERNEL)])
    b = write_trace(tmp_path / "b.zarr", [var("dense/kernel:0", KERNEL)])
    result = diff(a, b)
    page = _plain(render_html(result))
    assert "<th>optimizer state</th>" not in page and "optimizer state" not in render_text(result)
    assert "ignored_a" not in page and "Fails only by small amounts" not in page


def test_near_miss_and_measures_in_html_as_in_text(tmp_path, write_trace, ev):
    base = np.linspace(1, 2, 50, dtype=np.float32)
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", "out", base)])
    b = write_trace(tmp_path / "b.zarr", [ev("endpoint", "out", base * np.float32(1 + 1e-4))])
    result = diff(a, b, only="endpoints,o*")
    text, page = render_text(result), _plain(render_html(result))
    assert result.near_miss is not None
    sentence = text[text.index("Fails only by small amounts"):].splitlines()[0]
    assert sentence in page and "--rtol 0.0001" in sentence
    assert "No noise floor is known for these names" in page
    assert "Compared only names matching <code>o*</code>" in page
    calibrated = diff(a, b, tolerances={"out": {"measure": "norm_relative", "limit": 1e-5}})
    text, page = render_text(calibrated), _plain(render_html(calibrated))
    assert "Whole-array measure: ||B - A|| / ||A|| = 0.0001 (limit 1e-05)" in text
    assert "<th>whole-array measure</th><td>||B - A|| / ||A|| = 0.0001 (limit 1e-05)</td>" in page
    assert "<td><code>out</code></td><td>1e-06</td><td>1e-05</td><td>norm_relative ≤ 1e-05</td>" in page
    assert "Against the calibrated noise floor: the worst is 10x its limit" in page
