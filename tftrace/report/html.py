"""The HTML report of a diff: one self-contained file to open offline, attach to CI or
send in a bug report (``tftrace diff --format html -o report.html``).

The verdict, first divergence, summary, tolerances and both environments are written
here as static HTML (readable without scripts); the error-growth charts, the heatmap
and the table of pairs are drawn by ``assets/report.js`` from the page data built in
:mod:`tftrace.report.html_data`, with uPlot (``assets/README.md``) inlined. The page
loads nothing: a Content-Security-Policy forbids every request and allows only its own
two scripts (by hash). Every string from a trace is escaped, and control and
bidirectional-format characters are shown as ``\\x1b`` / ``\\u202e`` escapes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from importlib import resources
from typing import Any, Mapping, Sequence

from tftrace.compare.result import DiffResult
from tftrace.report.words import KIND_LABELS
from tftrace.report import html_data
from tftrace.report.html_sections import (environments, esc, first_divergence, header, section,
                                          shown, summary, verdict)
from tftrace.report.html_traces import (HISTOGRAM_MAX_ELEMENTS, MAX_HISTOGRAMS, TraceExtras,
                                        TraceSource, read_extras)

__all__ = ["render_html", "page_data", "pack_data", "unpack_data", "shown"]

#: uPlot, vendored from the npm package (version and checksum: assets/README.md).
UPLOT_VERSION = "1.6.32"


def render_html(result: DiffResult | Mapping[str, Any], *,
                traces: Sequence[TraceSource | None] | None = None,
                read_traces: bool = True) -> str:
    """The HTML report of a diff, one self-contained document.

    Parameters
    ----------
    result : DiffResult or mapping
        The result, or its ``to_dict()`` (the JSON report).
    traces : pair of Trace or path, optional
        Traces A and B, to show their environments, per-pair statistics and, for small
        arrays, histograms. Default: the paths the result names.
    read_traces : bool
        False: render from the result alone (no environment details, statistics or
        histograms).
    """
    document = result.to_dict() if isinstance(result, DiffResult) else result
    if read_traces:
        extras = read_extras(document, traces)
    else:
        extras = TraceExtras(problems=["traces not read (render_html(read_traces=False))"])
    data = page_data(document, extras)
    first = document.get("first_divergence")
    title = f"tftrace diff: {verdict(document)[0]}"
    if first:
        title += f", first at {shown(first['name'])}"
    app = _asset("report.js")
    uplot = _asset("uPlot.iife.min.js")
    policy = ("default-src 'none'; style-src 'unsafe-inline'; "
              f"script-src {_script_hash(uplot)} {_script_hash(app)}; base-uri 'none'; "
              "form-action 'none'")
    body = "\n".join([
        header(document),
        first_divergence(document),
        section("growth", "Error growth", '<div id="growth-charts"></div>'),
        section("heatmap", "Where it starts",
                 '<div id="heatmap-caption" class="caption"></div><div id="heatmap-legend">'
                 '</div><div id="heatmap-box"><canvas id="heatmap-canvas"></canvas>'
                 '<div id="heatmap-tip" hidden></div></div>'),
        section("pairs", "All pairs", '<div id="pairs-controls"></div><div id="pairs-table">'
                 '</div><div id="pair-detail" hidden></div>'),
        summary(document),
        environments(document, extras),
        _footer(extras),
    ])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        f"<style>{_asset('uPlot.min.css')}\n{_asset('report.css')}</style>\n"
        f"</head><body>\n<noscript><p class=\"note\">Scripts are off: the charts, heatmap "
        f"and table need them; everything else is below.</p></noscript>\n{body}\n"
        f'<script type="application/octet-stream" id="report-data">{pack_data(data)}</script>\n'
        f"<script>{uplot}</script>\n<script>{app}</script>\n</body></html>\n")


def page_data(document: Mapping[str, Any], extras: TraceExtras) -> dict[str, Any]:
    """Everything report.js draws, as plain JSON-able data (see html_data)."""
    strings = html_data.StringTable()
    kinds = html_data.kind_order(document)
    statuses = html_data.status_order(document)
    pairs, details = html_data.pair_tables(document, strings, kinds, statuses)
    tolerance = document.get("tolerance", {})
    return {
        "page_version": 1,
        "kinds": kinds, "kind_labels": html_data.kind_labels(kinds, KIND_LABELS),
        "statuses": statuses, "pair_columns": list(html_data.PAIR_COLUMNS),
        "detail_columns": list(html_data.DETAIL_COLUMNS),
        "value_fields": list(html_data.VALUE_FIELDS),
        "pairs": pairs, "details": details,
        "first": html_data.first_index(document),
        "tolerance": {"rtol": tolerance.get("rtol"), "atol": tolerance.get("atol"),
                      "overrides": len(tolerance.get("overrides", []))},
        "series": html_data.error_series(document, kinds),
        "heatmap": html_data.heatmap(document, strings, kinds, statuses),
        "stats": {str(k): v for k, v in extras.stats.items()},
        "histograms": {str(k): v for k, v in extras.histograms.items()},
        "histogram_limits": {"elements": HISTOGRAM_MAX_ELEMENTS, "pairs": MAX_HISTOGRAMS,
                             "left_out": extras.skipped_histograms,
                             "traces_read": extras.read},
        "strings": strings.strings,
    }




def pack_data(data: Any) -> str:
    """The page data as base64 of gzip-compressed JSON (report.js unpacks it).

    Compressed, a 10,000-pair report is a third of its plain-JSON size; base64 holds
    no ``<``, so the data cannot end its ``<script>`` element whatever the names hold.
    """
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode("ascii"), compresslevel=6, mtime=0)).decode("ascii")


def unpack_data(page: str) -> dict[str, Any]:
    """The page data of a rendered report (for tests and tools)."""
    start = page.index('id="report-data">') + len('id="report-data">')
    packed = page[start:page.index("</script>", start)]
    return json.loads(gzip.decompress(base64.b64decode(packed)))


def _asset(name: str) -> str:
    return resources.files("tftrace.report").joinpath("assets", name).read_text(encoding="utf-8")


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _footer(extras: TraceExtras) -> str:
    licence = _asset("uPlot.LICENSE")
    return (f'<footer><p>Made by tftrace. Charts: uPlot {UPLOT_VERSION} (MIT licence), inlined; '
            "this page loads nothing from the network.</p>"
            f"<details><summary>uPlot licence</summary><pre>{esc(licence)}</pre></details></footer>")
