"""The screenshots of docs/diff.md: the HTML report of the batch-norm pitfall pair.

    .venv/bin/python docs/examples/html_report_screenshots.py

Renders `tftrace diff` of the two committed traces as HTML and photographs it in
headless Chromium (Debian's, as the browser tests use): the top of the page, the
heatmap, and the first divergence's row of the table opened.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "report"))
from browser import Browser, browser_or_skip  # noqa: E402

import tftrace  # noqa: E402

A = "sample_traces/bn_pitfall_training_missing.zarr.zip"  # relative: the page shows the paths
B = "sample_traces/bn_pitfall_training_true.zarr.zip"


def main() -> None:
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "report.html"
        page_path.write_text(tftrace.diff(A, B).to_html(), encoding="utf-8")
        browser = Browser(browser_or_skip())
        try:
            opened = browser.open(page_path)
            page = opened.page
            page.set_viewport_size({"width": 1100, "height": 1480})
            page.screenshot(path=str(ROOT / "docs/html_report_bn_pitfall.png"))
            page.locator("#heatmap").screenshot(path=str(ROOT / "docs/html_report_bn_pitfall_heatmap.png"))
            page.click("#first-in-table")
            page.locator("#pair-detail").screenshot(path=str(ROOT / "docs/html_report_bn_pitfall_pair.png"))
            assert opened.console == [] and opened.other_requests == [], (opened.console, opened.requests)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
