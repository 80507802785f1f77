"""The HTML report in headless Firefox (Debian's firefox-esr, over WebDriver BiDi): the
same page draws there too, with no error logged and no request made.

Expected numbers as in test_html_browser.py: from the sample traces' README and events.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.report.browser import INK, PNG_INK  # noqa: E402
from tests.report.firefox import firefox as _firefox  # noqa: E402
from tests.report.test_html_browser import BLUE, FIRST, RED, SAMPLES, names_of  # noqa: E402
from tests.report.test_html_report import HOSTILE  # noqa: E402

import tftrace  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    yield from _firefox()


def ink(browser, canvas: str, colours=()) -> dict:
    return browser.evaluate(f"({INK})([{canvas}, {[list(c) for c in colours]}])")


def test_bn_pitfall_report_in_firefox(browser, tmp_path):
    a = SAMPLES / "bn_pitfall_training_missing.zarr.zip"
    b = SAMPLES / "bn_pitfall_training_true.zarr.zip"
    path = tmp_path / "bn.html"
    path.write_text(tftrace.diff(a, b).to_html(), encoding="utf-8")
    browser.open(path)
    assert browser.logged == [] and browser.requests == []
    assert browser.evaluate("tftraceReport.errors") == []
    assert browser.evaluate("document.getElementById('verdict').textContent") == "DIVERGED"
    first = browser.evaluate("(() => { const e = document.getElementById('first-name'); "
                             "const r = e.getBoundingClientRect(); return [e.textContent, r.width > 0 && r.height > 0]; })()")
    assert first == [FIRST, True]
    assert browser.evaluate("tftraceReport.charts.map(c => [c.kind, c.series])") == [["endpoint", 4], ["snapshot", 4]]
    for k in range(2):
        drawn = ink(browser, f"tftraceReport.charts[{k}].canvas", [RED, BLUE])
        assert drawn["ink"] > 1000 and min(drawn["near"]) > 50, drawn
    names = names_of(a)
    heat = browser.evaluate("(() => { const h = tftraceReport.heatmap; return [h.rows, h.columns, h.first, h.layout]; })()")
    assert heat[:3] == [len(names), 4, [names.index(("snapshot", FIRST)), 1]]
    layout = heat[3]
    x = int((layout["left"] + 1.5 * layout["cell"][0]) * layout["ratio"])
    y = int((layout["top"] + (heat[2][0] + 0.5) * layout["cell"][1]) * layout["ratio"])
    assert browser.evaluate(f"Array.from(tftraceReport.heatmap.canvas.getContext('2d').getImageData({x}, {y}, 1, 1)"
                            ".data.slice(0, 3))") == [0x3a, 0x00, 0x00]
    browser.evaluate("document.getElementById('first-in-table').click()")
    assert browser.evaluate("tftraceReport.histograms") == 3
    assert FIRST in browser.evaluate("document.getElementById('pair-detail').textContent")
    png = browser.screenshot()
    assert browser.evaluate("tftraceReport.errors") == [] and browser.requests == []
    browser.command("browsingContext.navigate", {"context": browser.context, "url": "about:blank",
                                                 "wait": "complete"})
    shot = browser.evaluate(f"({PNG_INK})({json.dumps(base64.b64encode(png).decode('ascii'))})")
    assert shot["ink"] > 0.05 * shot["width"] * shot["height"] and shot["colours"] > 200, shot


def test_a_hostile_name_is_text_in_firefox(browser, tmp_path, ev, write_trace):
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", HOSTILE, np.ones(3, np.float32))])
    b = write_trace(tmp_path / "b.zarr", [ev("endpoint", HOSTILE, np.full(3, 2, np.float32))])
    path = tmp_path / "hostile.html"
    path.write_text(tftrace.diff(a, b).to_html(), encoding="utf-8")
    browser.open(path)
    assert browser.logged == [] and browser.requests == []
    assert browser.evaluate("window.__pwned === undefined && document.images.length === 0")
    visible = "</script><script>window.__pwned=1</script>\\x1b[31m\\u202e<img src=x onerror=alert(1)>"
    assert browser.evaluate("document.getElementById('first-name').textContent") == visible
    assert browser.evaluate("document.querySelector('#pairs-table td.name').textContent") == visible
