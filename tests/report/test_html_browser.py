"""The HTML report in a real browser (headless Chromium): it draws, it asks for nothing
on the network, it logs no error, and names from a trace stay text.

Expected numbers come from the sample traces' README (the batch-norm pitfall pair first
diverges at the moving mean in step 1; sample 1's Session and eager runs are
equivalent, their snapshots within tolerance) and from the traces' events themselves.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.report.browser import chromium as _chromium  # noqa: E402
from tests.report.test_html_report import HOSTILE, synthetic_document  # noqa: E402

import tftrace  # noqa: E402
from tftrace.report.html import render_html  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
FIRST = "batch_normalization/moving_mean:0"
RED, BLUE = (179, 38, 30), (26, 87, 168)  # the charts' absolute and relative error colours


@pytest.fixture(scope="module")
def browser():
    yield from _chromium()


def names_of(*paths: Path) -> list[tuple[str, str]]:
    """The distinct (kind, name) of the traces' events in order: the heatmap's rows when
    every event of B pairs with one of A (pairs carry A's names)."""
    names: dict[tuple[str, str], None] = {}
    for path in paths:
        with tftrace.open(path) as trace:
            names.update(dict.fromkeys((e.kind, e.name) for e in trace.events))
    return list(names)


def clean(opened, after_readbacks: bool = False) -> None:
    """Nothing logged (after the test read canvases back: no error; Chromium then advises
    willReadFrequently, about the test's own getImageData calls)."""
    logged = [m for m in opened.console if not after_readbacks or not m.startswith("warning: Canvas2D")]
    assert logged == [], logged
    assert opened.state("window.tftraceReport.errors") == []
    assert opened.other_requests == []


def test_bn_pitfall_report_draws_where_and_how_it_diverges(browser, tmp_path):
    a = SAMPLES / "bn_pitfall_training_missing.zarr.zip"
    b = SAMPLES / "bn_pitfall_training_true.zarr.zip"
    path = tmp_path / "bn.html"
    path.write_text(tftrace.diff(a, b).to_html(), encoding="utf-8")
    opened = browser.open(path)
    page = opened.page
    clean(opened)
    assert page.locator("#verdict").inner_text() == "DIVERGED"
    assert page.locator("#first-name").is_visible() and page.locator("#first-name").inner_text() == FIRST

    # error growth: endpoints (the loss) and snapshots diverge; 4 series each (max abs, max
    # rel, atol, rtol); both error lines are on the canvas
    charts = opened.state("tftraceReport.charts.map(c => [c.kind, c.series])")
    assert charts == [["endpoint", 4], ["snapshot", 4]]
    for k in range(2):
        ink = opened.ink(f"tftraceReport.charts[{k}].canvas", [RED, BLUE])
        assert ink["ink"] > 1000 and min(ink["near"]) > 50, ink

    # the heatmap: one row per name, one column per step; the first divergence's cell is
    # the darkest red (its relative error is infinite: A's moving mean is 0) and the cell
    # of the first variable at step 0 is green (equal)
    heat = opened.state("(() => { const h = tftraceReport.heatmap; return {rows: h.rows, columns: h.columns, "
                        "first: h.first, layout: h.layout}; })()")
    names = names_of(a)
    assert names == names_of(a, b)  # this pair's names are the same on both sides
    assert (heat["rows"], heat["columns"]) == (len(names), 4)
    assert heat["first"] == [names.index(("snapshot", FIRST)), 1]
    layout = heat["layout"]

    def pixel(row: int, column: int) -> list[int]:
        x = (layout["left"] + (column + 0.5) * layout["cell"][0]) * layout["ratio"]
        y = (layout["top"] + (row + 0.5) * layout["cell"][1]) * layout["ratio"]
        return page.evaluate(f"Array.from(tftraceReport.heatmap.canvas.getContext('2d')"
                             f".getImageData({int(x)}, {int(y)}, 1, 1).data.slice(0, 3))")

    assert pixel(*heat["first"]) == [0x3a, 0x00, 0x00]
    assert pixel(0, 0) == [0xcf, 0xe8, 0xcf]
    assert opened.ink("tftraceReport.heatmap.canvas")["ink"] > 2000

    # the table: every pair; a search narrows it; clicking the first divergence shows its
    # statistics and the histograms of A, B and B - A
    assert page.locator("#pairs-count").inner_text().startswith("pairs 1–50 of 50")
    page.fill("#pairs-search", "moving_mean")
    assert opened.state("tftraceReport.table.shown") == 5  # the variable and 4 snapshots
    page.fill("#pairs-search", "")
    page.click("#first-in-table")
    detail = page.locator("#pair-detail")
    assert detail.is_visible() and FIRST in detail.inner_text()
    assert "0.051927235 at [2] (A 0, B 0.051927235)" in detail.inner_text()  # the text report's line
    assert opened.state("tftraceReport.histograms") == 3
    assert page.locator("#pair-detail .hists canvas").count() == 3
    # pointing at the heatmap's first cell names it; clicking it shows the same pair
    page.fill("#pairs-search", "dense")
    canvas = page.locator("#heatmap-canvas")
    cell = {"x": layout["left"] + (heat["first"][1] + 0.5) * layout["cell"][0],
            "y": layout["top"] + (heat["first"][0] + 0.5) * layout["cell"][1]}
    canvas.hover(position=cell)
    assert page.locator("#heatmap-tip").inner_text() == f"snapshots {FIRST}, step 1: diverged, max relative error inf"
    canvas.click(position=cell)
    assert page.locator("#pair-detail h3").first.inner_text().startswith(f"snapshots {FIRST}, step 1")

    shot = browser.screenshot_ink(page.screenshot(full_page=True))
    assert shot["width"] == 1280 and shot["height"] > 2000
    assert shot["ink"] > 0.05 * shot["width"] * shot["height"] and shot["colours"] > 200, shot
    clean(opened, after_readbacks=True)


def test_equivalent_pair_report(browser, tmp_path):
    a, b = SAMPLES / "inception_v2_session.zarr.zip", SAMPLES / "inception_v2_eager.zarr.zip"
    path = tmp_path / "inception.html"
    path.write_text(tftrace.diff(a, b).to_html(), encoding="utf-8")
    opened = browser.open(path)
    clean(opened)
    assert opened.page.locator("#verdict").inner_text() == "EQUIVALENT"
    # only snapshots differ at all (within tolerance), so one chart: their errors below the lines
    assert opened.state("tftraceReport.charts.map(c => [c.kind, c.series])") == [["snapshot", 4]]
    assert opened.ink("tftraceReport.charts[0].canvas", [RED, BLUE])["ink"] > 1000
    # rows are A's names (random ops pair by order and carry A's graph names): more than
    # 400, so merged two by two, and the page says so
    names = len(names_of(a))
    per_row = math.ceil(names / 400)
    assert per_row == 2
    assert opened.state("tftraceReport.heatmap.rows") == math.ceil(names / per_row)
    assert "each row merges 2 consecutive names" in opened.page.locator("#heatmap-caption").inner_text()
    assert opened.state("tftraceReport.heatmap.first") is None


def test_a_hostile_name_is_shown_as_text(browser, tmp_path, ev, write_trace):
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", HOSTILE, np.ones(3, np.float32))])
    b = write_trace(tmp_path / "b.zarr", [ev("endpoint", HOSTILE, np.full(3, 2, np.float32))])
    path = tmp_path / "hostile.html"
    path.write_text(tftrace.diff(a, b).to_html(), encoding="utf-8")
    opened = browser.open(path)
    clean(opened)  # the <img src=x> would be a request, the CSP would log a violation
    assert opened.state("window.__pwned === undefined")
    visible = "</script><script>window.__pwned=1</script>\\x1b[31m\\u202e<img src=x onerror=alert(1)>"
    assert opened.page.locator("#first-name").inner_text() == visible
    assert opened.page.locator("#pairs-table td.name").first.inner_text() == visible
    assert opened.page.locator("img").count() == 0


def test_ten_thousand_pairs_stay_bounded(browser, tmp_path):
    # 1,000 names x 10 steps (no traces: the result dict alone); the heatmap merges 3
    # names per row, the table pages 100 rows at a time
    path = tmp_path / "large.html"
    path.write_text(render_html(synthetic_document(names=1000, steps=10), read_traces=False),
                    encoding="utf-8")
    opened = browser.open(path)
    clean(opened)
    assert opened.state("[tftraceReport.heatmap.rows, tftraceReport.heatmap.columns]") == [334, 10]
    assert "each row merges 3 consecutive names" in opened.page.locator("#heatmap-caption").inner_text()
    assert opened.state("tftraceReport.table") == {"shown": 10_000, "total": 10_000, "page": 0,
                                                   "rowsOnPage": 100}
    assert opened.state("tftraceReport.charts.map(c => [c.kind, c.series])") == [["op", 4]]
