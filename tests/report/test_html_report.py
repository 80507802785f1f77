"""The HTML report's content, without a browser: what the page says and the numbers it draws.

The browser tests (test_html_browser.py) check that a real browser draws them.
"""

from __future__ import annotations

import copy
import dataclasses
import html.parser
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner


import tftrace  # noqa: E402
from tftrace.report.text import render_text  # noqa: E402
from tftrace.cli import cli  # noqa: E402
from tftrace.report import html_data, html_traces  # noqa: E402
from tftrace.report.html import render_html, shown, unpack_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BN_A = ROOT / "sample_traces/bn_pitfall_training_missing.zarr.zip"
BN_B = ROOT / "sample_traces/bn_pitfall_training_true.zarr.zip"
FIRST = "batch_normalization/moving_mean:0"
HOSTILE = "</script><script>window.__pwned=1</script>\x1b[31m\u202e<img src=x onerror=alert(1)>"


class _TextOf(html.parser.HTMLParser):
    """The text inside the element with a given id (entities decoded)."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.text = element_id, 0, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth or dict(attrs).get("id") == self.element_id:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        self.depth = max(0, self.depth - 1)

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text += data


def text_of(page: str, element_id: str) -> str:
    parser = _TextOf(element_id)
    parser.feed(page)
    return parser.text


@pytest.fixture(scope="module")
def bn_result() -> tftrace.DiffResult:
    return tftrace.diff(BN_A, BN_B)


@pytest.fixture(scope="module")
def bn_page(bn_result) -> str:
    return bn_result.to_html()


def bn_arrays() -> tuple[list[tuple[str, str, int]], dict, dict]:
    """(kind, name, step) of A's events in order, and both traces' arrays by that key."""
    arrays: list[dict] = [{}, {}]
    order = []
    for side, path in enumerate((BN_A, BN_B)):
        with tftrace.open(path) as trace:
            for event in trace.events:
                key = (event.kind, event.name, event.step, event.occurrence)
                arrays[side][key] = trace.array(event).astype(np.float64)
                if side == 0:
                    order.append(key)
    return order, arrays[0], arrays[1]


def test_bn_pitfall_page_leads_with_the_first_divergence(bn_page):
    assert bn_page.startswith("<!DOCTYPE html>")
    assert text_of(bn_page, "verdict") == "DIVERGED"
    assert text_of(bn_page, "first-name") == FIRST  # the sample's README: moving mean, step 1
    first = text_of(bn_page, "first")
    assert "step 1" in first and "4 / 4 (100%)" in first
    assert "broke first:" in first.lower() and "computation" in first
    # both environments side by side, differences highlighted: the command lines differ
    assert '<tr class="differs"><th>command_line</th>' in bn_page
    assert '<tr class=""><th>tensorflow_version</th><td>2.21.0</td><td>2.21.0</td>' in bn_page
    # one file: no external script, style or image
    for reference in ('src="http', "src='http", 'href="http', "@import", "url(http"):
        assert reference not in bn_page


def test_bn_pitfall_numbers_are_the_arrays_numbers(bn_page):
    data = unpack_data(bn_page)
    order, a, b = bn_arrays()
    names = list(dict.fromkeys((kind, name) for kind, name, _, _ in order))
    heat = data["heatmap"]
    assert heat["names"] == len(names) == len(heat["rows"]) == 17
    assert heat["names_per_row"] == heat["steps_per_column"] == 1
    assert heat["first"] == [names.index(("snapshot", FIRST)), [0, 1, 2, 3].index(1)]
    assert data["strings"][data["pairs"][data["first"]][1]] == FIRST

    # error growth: one chart per kind with an error; variables and random ops are equal
    series = {s["kind"]: s for s in data["series"]}
    assert sorted(series) == ["endpoint", "snapshot"]
    for kind, chart in series.items():
        for i, step in enumerate(chart["steps"]):
            keys = [k for k in order if k[0] == kind and k[2] == step]
            abs_errors = [np.abs(b[k] - a[k]).max() for k in keys]
            rel = []
            for k in keys:
                with np.errstate(divide="ignore", invalid="ignore"):
                    r = np.abs(b[k] - a[k]) / np.abs(a[k])
                rel.append(np.nanmax(np.where(np.isnan(r), 0, r)))
            expected_abs = max(abs_errors)
            assert (chart["max_abs"][i] is None) == (expected_abs == 0)
            if expected_abs:
                assert chart["max_abs"][i] == pytest.approx(expected_abs, rel=1e-6)
            finite = [r for r in rel if np.isfinite(r) and r > 0]
            assert chart["rel_infinite"][i] == sum(not np.isfinite(r) for r in rel)
            if finite:
                assert chart["max_rel"][i] == pytest.approx(max(finite), rel=1e-6)
            else:
                assert chart["max_rel"][i] is None
    # moving_mean starts at 0 in A, so its relative error is infinite at steps 1-3
    assert series["snapshot"]["rel_infinite"][1:] == [2, 2, 2]  # moving_mean and dense/bias

    # statistics of the first divergence: A's moving mean stays 0; B's is the array's
    stats_a, stats_b = data["stats"][str(data["first"])]
    mean_b = b[("snapshot", FIRST, 1, 0)]
    assert stats_a == [0, 0, 0, 0, 0]
    assert stats_b[:3] == pytest.approx([mean_b.min(), mean_b.max(), mean_b.mean()], rel=1e-6)


def test_histograms_count_finite_values_over_one_shared_range():
    a = np.array([0, 1, 2, 3, np.nan], np.float32)
    b = np.array([0, 1, 2, 5, 7], np.float32)
    h = html_traces.histograms(a, b, bins=5)
    # shared range 0..7, bins 1.4 wide: A's 0, 1 | 2 | 3; B's 0, 1 | 2 | 5 | 7
    assert h["a"] == [0.0, 7.0, [2, 1, 1, 0, 0]]
    assert h["b"] == [0.0, 7.0, [2, 1, 0, 1, 1]]
    # B - A where both are finite: 0, 0, 0, 2 over 0..2
    assert h["diff"] == [0.0, 2.0, [3, 0, 0, 0, 1]]
    assert h["nonfinite"] == [1, 0]
    same = html_traces.histograms(np.array([3.0, 3.0]), np.array([3.0, 3.0]), bins=5)
    assert same["a"] == [2.5, 3.5, [0, 0, 2, 0, 0]]  # one value: one bin around it
    assert same["diff"] == [-0.5, 0.5, [0, 0, 2, 0, 0]]


def test_histograms_are_bounded(bn_result, monkeypatch):
    full = unpack_data(bn_result.to_html())
    assert len(full["histograms"]) == 50  # every pair of this small trace has one
    assert full["histogram_limits"]["left_out"] == 0
    monkeypatch.setattr(html_traces, "MAX_HISTOGRAMS", 2)
    data = unpack_data(bn_result.to_html())
    # the first divergence first, then the next diverged pair in A's order (moving variance)
    second = next(i for i, p in enumerate(bn_result.pairs)
                  if p.status == "diverged" and p.name != FIRST)
    assert sorted(data["histograms"]) == sorted([str(data["first"]), str(second)])
    assert data["histogram_limits"]["left_out"] == 48
    monkeypatch.setattr(html_traces, "MAX_HISTOGRAMS", 500)
    monkeypatch.setattr(html_traces, "HISTOGRAM_MAX_ELEMENTS", 3)
    data = unpack_data(bn_result.to_html())
    sizes = {str(i): int(np.prod(p.shape_a)) for i, p in enumerate(bn_result.pairs)}
    assert data["histograms"] and all(sizes[i] <= 3 for i in data["histograms"])
    assert str(data["first"]) not in data["histograms"]  # 4 elements


def test_without_the_traces_the_page_says_so(bn_result, tmp_path):
    moved = dataclasses.replace(bn_result, a=dataclasses.replace(bn_result.a, path=str(tmp_path / "gone.zarr")))
    page = render_html(moved)
    assert "Not read from the traces: A:" in page and "gone.zarr" in page
    data = unpack_data(page)
    assert data["histograms"] == {} and data["histogram_limits"]["traces_read"] == [False, True]
    assert all(a is None and b is not None for a, b in data["stats"].values())  # B was read
    assert text_of(page, "first-name") == FIRST


def test_a_hostile_name_is_text(tmp_path, ev, write_trace):
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", HOSTILE, np.ones(3, np.float32))])
    b = write_trace(tmp_path / "b.zarr", [ev("endpoint", HOSTILE, np.full(3, 2, np.float32))])
    out = tmp_path / "report.html"
    run = CliRunner().invoke(cli, ["diff", str(a), str(b), "--format", "html", "-o", str(out)])
    assert run.exit_code == 1, run.output
    page = out.read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    assert "\x1b" not in page and "\u202e" not in page
    visible = "</script><script>window.__pwned=1</script>\\x1b[31m\\u202e<img src=x onerror=alert(1)>"
    assert shown(HOSTILE) == visible
    assert text_of(page, "first-name") == visible
    assert HOSTILE in unpack_data(page)["strings"]  # the page data keeps it exact


def test_random_gaps_and_incomplete_traces_are_said(tmp_path, rnd, write_trace):
    ops = [rnd("RandomUniform", (3,), seed=s) for s in range(5)]
    extra = rnd("RandomUniform", (128, 10), seed=9)
    a = write_trace(tmp_path / "a.zarr", ops)
    b = write_trace(tmp_path / "b.zarr", ops[:2] + [extra] + ops[2:])
    page = render_html(tftrace.diff(a, b, only="random"))
    # as the text report says it (test_diff_reports), without the call site the dict lacks
    assert ('<p class="finding">Random ops: B has an extra RandomUniform [128, 10] at #2 (seq 2); '
            "the 3 random ops after it are shifted by one.</p>") in page
    assert "random op structure" in text_of(page, "first")

    cut = write_trace(tmp_path / "cut.zarr", ops[:3], complete=False)
    page = render_html(tftrace.diff(a, cut))
    # the verdict and its reasons in the text report's words (test_trust covers those)
    text = render_text(tftrace.diff(a, cut))
    assert text.splitlines()[0] == "tftrace diff: NOT EQUIVALENT: A RUN DID NOT COMPLETE"
    assert text_of(page, "verdict") == "NOT EQUIVALENT: A RUN DID NOT COMPLETE"
    assert "INCOMPLETE" in page
    assert "B did not complete: the run raised an exception" in text
    assert "B did not complete: the run raised an exception" in text_of(page, "first")
    data = unpack_data(page)
    assert [data["statuses"][row[3]] for row in data["pairs"]] == ["equal"] * 3 + ["skipped"] * 2


def unknown_kind_document(document: dict) -> dict:
    """The bn pitfall result as a later version may write it: a ``layer`` kind and a diagnosis."""
    document = copy.deepcopy(document)
    for step, error in ((1, 0.25), (2, 2.5), (3, 25.0)):
        document["pairs"].append({
            "kind": "layer", "name": "dense/<b>BiasAdd</b>", "name_b": None, "status": "diverged",
            "problem": "values", "message": "", "step": step, "occurrence": 0,
            "seq_a": None, "seq_b": None, "shape_a": [2], "shape_b": [2],
            "dtype_a": "float32", "dtype_b": "float32", "compared_by": "values",
            "tolerance": {"rtol": 1e-6, "atol": 1e-5},
            "values": {"size": 2, "mismatched": 2, "identical": False, "exact": False,
                       "max_abs_error": {"index": [0], "a": 1.0, "b": 1.0 + error, "error": error},
                       "max_rel_error": {"index": [0], "a": 1.0, "b": 1.0 + error, "error": error},
                       "mismatches": [], "max_ulp": 10, "nan_mismatched": 0, "inf_mismatched": 0},
            "call_site_a": None, "call_site_b": None})
    document["kinds"].append("layer")
    document["summary"].append({"kind": "layer", "compared": 3, "equal": 0, "close": 0,
                                "diverged": 3, "missing": 0, "extra": 0, "skipped": 0})
    document["first_divergence"]["diagnosis"] = [
        {"code": "training-flag", "message": "B updates the moving statistics, A does not",
         "evidence": {"moving_mean": "<i>frozen</i> in A", "steps": [1, 2, 3]}}]
    return document


def test_unknown_kinds_and_a_diagnosis_are_drawn(bn_result):
    document = unknown_kind_document(bn_result.to_dict())
    page = render_html(document, read_traces=False)
    diagnosis = text_of(page, "diagnosis")
    assert "training-flag" in diagnosis and "B updates the moving statistics" in diagnosis
    assert "<i>frozen</i> in A" in diagnosis and "&lt;i&gt;frozen&lt;/i&gt; in A" in page
    assert "layer events" in text_of(page, "summary")
    data = unpack_data(page)
    assert data["kind_labels"]["layer"] == "layer events"
    layer = next(s for s in data["series"] if s["kind"] == "layer")
    assert layer["steps"] == [1, 2, 3] and layer["max_abs"] == [0.25, 2.5, 25.0]
    assert data["heatmap"]["names"] == 18  # the 17 names of the sample and the layer
    assert data["strings"][data["heatmap"]["rows"][-1][1]] == "dense/<b>BiasAdd</b>"


def synthetic_document(names: int, steps: int) -> dict:
    """A result dict of ``names`` x ``steps`` equal ``op`` pairs, except two."""
    pairs = []
    for step in range(steps):
        for n in range(names):
            pair = {"kind": "op", "name": f"op_{n:04d}", "status": "equal", "step": step,
                    "occurrence": 0, "seq_a": len(pairs), "seq_b": len(pairs), "values": None}
            if (n, step) == (500, 7):
                pair.update(status="diverged", values={
                    "size": 1, "mismatched": 1, "max_abs_error": {"index": [0], "a": 2.0, "b": 3.0, "error": 1.0},
                    "max_rel_error": {"index": [0], "a": 2.0, "b": 3.0, "error": 0.5}})
            elif (n, step) == (999, 9):
                pair.update(status="close", values={
                    "size": 1, "mismatched": 0, "max_abs_error": {"index": [0], "a": 1.0, "b": 1.0, "error": 1e-7},
                    "max_rel_error": {"index": [0], "a": 1.0, "b": 1.0, "error": 1e-7}})
            pairs.append(pair)
    first = next((p for p in pairs if p["status"] == "diverged"), None)
    return {"kinds": ["op"], "pairs": pairs, "first_divergence": first}


def test_heatmap_merges_names_and_steps_past_its_bounds():
    document = synthetic_document(names=1000, steps=10)
    strings = html_data.StringTable()
    statuses = html_data.status_order(document)
    heat = html_data.heatmap(document, strings, ["op"], statuses, max_rows=400, max_columns=4)
    # 1000 names in rows of ceil(1000 / 400) = 3; 10 steps in columns of ceil(10 / 4) = 3
    assert (heat["names_per_row"], heat["steps_per_column"]) == (3, 3)
    assert len(heat["rows"]) == 334 and heat["columns"] == [[0, 2], [3, 5], [6, 8], [9, 9]]
    assert [strings.strings[heat["rows"][166][i]] for i in (1, 4)] == ["op_0498", "op_0500"]
    assert heat["rows"][166][2] == 3 and heat["rows"][333][2] == 1  # the last row holds op_0999
    cells = {(r, c): (statuses[s], rel) for r, c, s, rel, _ in heat["cells"]}
    assert len(cells) == 334 * 4
    # op_0500 at step 7 is row 500 // 3, column 7 // 3: the worst of its merged neighbours
    assert cells[(166, 2)] == ("diverged", 0.5) and heat["first"] == [166, 2]
    assert cells[(333, 3)] == ("close", 1e-7)
    assert {v for k, v in cells.items() if k not in ((166, 2), (333, 3))} == {("equal", None)}
    # within the bounds nothing is merged
    small = html_data.heatmap(synthetic_document(names=400, steps=10), html_data.StringTable(),
                              ["op"], statuses)
    assert (small["names_per_row"], len(small["rows"]), len(small["columns"])) == (1, 400, 10)
    assert small["first"] is None


def test_cli_writes_the_html_report(tmp_path):
    out = tmp_path / "report.html"
    run = CliRunner().invoke(cli, ["diff", str(BN_A), str(BN_B), "--format", "html", "-o", str(out)])
    assert run.exit_code == 1 and run.output == ""
    page = out.read_text(encoding="utf-8")
    assert text_of(page, "first-name") == FIRST
    assert len(unpack_data(page)["histograms"]) == 50  # the CLI hands the traces to the renderer
