"""The words of a multi-worker diff (compare/workers.py): a summary, then each worker's report."""

from __future__ import annotations

import json
from typing import Any

from tftrace.compare.workers import WorkersResult
from tftrace.report.escape import json_safe
from tftrace.report.json import diff_document
from tftrace.report.text import render_text
from tftrace.report.verdict import title
from tftrace.report.words import kind_label

#: The version of the ``tftrace-workers-diff`` JSON document (docs/scale.md).
WORKERS_REPORT_VERSION = 1

MODES = {"paired": "worker k of A with worker k of B, every value compared",
         "agree": "another layout: only values that must agree compared (initial and updated "
                  "weights, values equal on every replica such as all-reduced gradients)"}


def layout(workers_replicas: tuple[int, int]) -> str:
    """``(2, 4)`` -> ``'2 workers, 4 replicas'``."""
    workers, replicas = workers_replicas
    return f"{workers} worker{'s' if workers != 1 else ''}, {replicas} replica{'s' if replicas != 1 else ''}"


def summary_lines(result: WorkersResult) -> list[str]:
    """The head of the text report: verdict, layouts, what was compared, each worker."""
    first = result.first_worker
    verdict = "EQUIVALENT" if result.equivalent else \
        f"DIVERGED (first on worker {first})" if first is not None else "NOT EQUIVALENT"
    lines = [f"tftrace diff (workers): {verdict}",
             f"  A: {layout(result.layout_a)}; B: {layout(result.layout_b)}",
             f"  compared: {MODES[result.mode]}"]
    if result.per_replica:
        lines.append("  not compared (values differ per replica, so they cannot agree with another "
                     f"layout): {', '.join(result.per_replica)}")
    if result.unchecked:
        lines.append("  not compared (one replica captured, so not known to be mirrored): "
                     f"{', '.join(result.unchecked)}")
    for pair in result.pairs:
        first_divergence = pair.result.first_divergence
        where = "" if first_divergence is None else \
            f" at {kind_label(first_divergence.kind)} '{first_divergence.name}', step {first_divergence.step}"
        lines.append(f"  worker {pair.worker}: {title(pair.result)}{where}  ({pair.path_a} vs {pair.path_b})")
    return lines


def render_workers_text(result: WorkersResult, *, show_all: bool = False, color: bool = False) -> str:
    """The summary, then the full report of each worker that is not equivalent (of every
    worker with ``show_all``)."""
    parts = ["\n".join(summary_lines(result)) + "\n"]
    for pair in result.pairs:
        if show_all or not pair.result.equivalent:
            parts.append(f"\n== worker {pair.worker} ==\n"
                         + render_text(pair.result, show_all=show_all, color=color))
    return "".join(parts)


def workers_dict(result: WorkersResult) -> dict[str, Any]:
    """The ``tftrace-workers-diff`` document: each worker's diff document inside."""
    return {
        "schema": "tftrace-workers-diff", "version": WORKERS_REPORT_VERSION,
        "equivalent": result.equivalent, "mode": result.mode,
        "first_divergence_worker": result.first_worker,
        "layout_a": {"workers": result.layout_a[0], "replicas": result.layout_a[1]},
        "layout_b": {"workers": result.layout_b[0], "replicas": result.layout_b[1]},
        "not_compared_per_replica": list(result.per_replica),
        "not_compared_one_replica": list(result.unchecked),
        "workers": [{"worker": p.worker, "a": p.path_a, "b": p.path_b,
                     "report": diff_document(p.result)} for p in result.pairs],
    }


def render_workers_json(result: WorkersResult) -> str:
    return json.dumps(json_safe(workers_dict(result)), indent=2, allow_nan=False) + "\n"
