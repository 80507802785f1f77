"""Open HTML reports in a real headless browser (Debian's chromium, driven by Playwright).

No browser is downloaded: Playwright drives ``/usr/bin/chromium`` (``$TFTRACE_CHROMIUM``),
which ``.ci/run`` installs when missing. Where it is missing outside CI, the tests are
skipped saying so; under CI (``$CI`` set) they fail instead, so a browser that could
not be installed never passes silently.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = Path(os.environ.get("TFTRACE_CHROMIUM", "/usr/bin/chromium"))
#: Headless, and nothing that talks to the network on its own (updates, sync, QUIC probes).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

#: Counts the pixels of a canvas that are not blank, and those near given colours.
INK = """(args) => {
    const [canvas, colours] = args;
    const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const near = colours.map(() => 0);
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] === 0) continue;
        if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) ink++;
        colours.forEach((c, k) => {
            if (Math.abs(d[i] - c[0]) < 40 && Math.abs(d[i + 1] - c[1]) < 40 && Math.abs(d[i + 2] - c[2]) < 40) near[k]++;
        });
    }
    return {ink, near};
}"""


def browser_or_skip() -> Any:
    """The sync Playwright module, or skip (fail under CI) with the reason."""
    try:
        from playwright import sync_api
    except ImportError:  # pragma: no cover - a test extra
        reason = "playwright is not installed (pip install -e '.[test]')"
    else:
        if CHROMIUM.is_file():
            return sync_api
        reason = (f"no browser: {CHROMIUM} not found; install Debian's chromium "
                  f"(apt-get install chromium; .ci/run does) or set TFTRACE_CHROMIUM")
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


@dataclass
class OpenedReport:
    """A report loaded in a page, with what the page logged and requested."""

    page: Any
    url: str
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def state(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def ink(self, canvas_expression: str, colours: list[tuple[int, int, int]] = ()) -> dict[str, Any]:
        handle = self.page.evaluate_handle(canvas_expression)
        return self.page.evaluate(INK, [handle, [list(c) for c in colours]])

    @property
    def other_requests(self) -> list[str]:
        return [u for u in self.requests if u != self.url]


class Browser:
    """One Chromium for a test module; a new page per report."""

    def __init__(self, sync_api: Any) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="tftrace-chromium-")
        self._playwright = sync_api.sync_playwright().start()
        # a persistent context on a new, empty profile directory (Playwright's own
        # temporary profile would do too; this one is ours to name and delete)
        self.context = self._playwright.chromium.launch_persistent_context(
            self._profile.name, executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})

    def open(self, path: Path) -> OpenedReport:
        page = self.context.new_page()
        opened = OpenedReport(page, path.resolve().as_uri())
        page.on("console", lambda m: opened.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: opened.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(opened.url)
        page.wait_for_function("window.tftraceReport && window.tftraceReport.ready", timeout=60_000)
        return opened

    def screenshot_ink(self, png: bytes) -> dict[str, Any]:
        """Size, non-white pixels and distinct colours of a PNG screenshot."""
        page = self.context.new_page()
        try:
            return page.evaluate(PNG_INK, base64.b64encode(png).decode("ascii"))
        finally:
            page.close()

    def close(self) -> None:
        self.context.close()
        self._playwright.stop()
        self._profile.cleanup()


def chromium() -> Iterator[Browser]:
    browser = Browser(browser_or_skip())
    try:
        yield browser
    finally:
        browser.close()


#: Decodes a PNG (base64) in a blank page: its size, non-white pixels and distinct colours.
PNG_INK = """async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) {
        if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) ink++;
        if (colours.size < 5000) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    return {width: canvas.width, height: canvas.height, ink, colours: colours.size};
}"""
