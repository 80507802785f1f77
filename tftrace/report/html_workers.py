"""The HTML report of a worker-set diff: one self-contained page.

The page leads with the set's summary (verdict, layouts, what was compared and what was
not, one row per worker) as static HTML, then holds each worker's own report, the page
:func:`~tftrace.report.html.render_html` writes for that pair of traces, in an
``<iframe srcdoc>``: its charts, heatmap and table work as in a single diff's page, its
element ids stay its own. Nothing is loaded: the outer Content-Security-Policy (which
the frames inherit) allows only the two scripts every worker's page carries, by hash,
and each frame is sandboxed to scripts alone.
"""

from __future__ import annotations

import html

from tftrace.compare.workers import WorkersResult
from tftrace.report.html import _asset, _script_hash, render_html
from tftrace.report.html_sections import esc, section
from tftrace.report.verdict import title
from tftrace.report.workers import (MODES, first_divergence_place, layout, not_compared_lines,
                                    set_verdict)

#: Height of a worker's frame; the frame scrolls on its own.
FRAME_HEIGHT = "85vh"


def render_workers_html(result: WorkersResult) -> str:
    """The page of a worker-set diff (module docstring), ending with a newline."""
    verdict = set_verdict(result)
    tone = "ok" if result.equivalent else "bad" if result.first_worker is not None else "warn"
    rows = "".join(
        f'<tr><td><a href="#worker-{p.worker}">worker {p.worker}</a></td>'
        f'<td class="{"ok" if p.result.equivalent else "diverged"}">{esc(title(p.result))}</td>'
        f"<td>{esc(first_divergence_place(p))}</td>"
        f"<td><code>{esc(p.path_a)}</code></td><td><code>{esc(p.path_b)}</code></td></tr>"
        for p in result.pairs)
    summary = (f"<p>A: {esc(layout(result.layout_a))}; B: {esc(layout(result.layout_b))}</p>\n"
               f"<p>compared: {esc(MODES[result.mode])}</p>\n"
               + "".join(f'<p class="finding">{esc(line)}</p>\n' for line in not_compared_lines(result))
               + '<table class="workers"><tr><th>worker</th><th>verdict</th><th>first divergence</th>'
               f"<th>A</th><th>B</th></tr>{rows}</table>")
    frames = [section(f"worker-{p.worker}", f"Worker {p.worker}",
                      f'<iframe title="worker {p.worker}" sandbox="allow-scripts" '
                      f'style="width:100%;height:{FRAME_HEIGHT};border:1px solid #ddd" '
                      f'srcdoc="{html.escape(render_html(p.result, traces=(p.path_a, p.path_b)), quote=True)}">'
                      "</iframe>")
              for p in result.pairs]
    scripts = " ".join(_script_hash(_asset(name)) for name in ("uPlot.iife.min.js", "report.js"))
    policy = (f"default-src 'none'; style-src 'unsafe-inline'; script-src {scripts}; "
              "base-uri 'none'; form-action 'none'")
    body = "\n".join([f'<header><h1>tftrace diff (workers): <span id="verdict" class="verdict {tone}">'
                      f"{esc(verdict)}</span></h1></header>",
                      section("workers", "Workers", summary), *frames])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc('tftrace diff (workers): ' + verdict)}</title>\n"
            f"<style>{_asset('report.css')}</style>\n</head><body>\n{body}\n</body></html>\n")
