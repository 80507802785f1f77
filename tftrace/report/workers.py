"""The words of a multi-worker diff (compare/workers.py): a summary, then each worker's report,
as text, JSON, JUnit XML or one HTML page (report/html_workers.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from tftrace.compare.workers import WorkerPair, WorkersResult
from tftrace.report.escape import json_safe, safe_line
from tftrace.report.json import diff_document
from tftrace.report.junit import render_junit
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


#: Why values were left out of an ``agree`` diff, per list of :class:`WorkersResult`.
PER_REPLICA_REASON = "values differ per replica, so they cannot agree with another layout"
ONE_REPLICA_REASON = "one replica captured, so not known to be mirrored"


def set_verdict(result: WorkersResult) -> str:
    """``EQUIVALENT``, ``DIVERGED (first on worker 1)`` or ``NOT EQUIVALENT``."""
    first = result.first_worker
    return "EQUIVALENT" if result.equivalent else \
        f"DIVERGED (first on worker {first})" if first is not None else "NOT EQUIVALENT"


def not_compared_lines(result: WorkersResult) -> list[str]:
    """What the set's diff left out, one sentence per reason (empty when nothing was)."""
    lines = []
    if result.per_replica:
        lines.append(f"not compared ({PER_REPLICA_REASON}): {', '.join(result.per_replica)}")
    if result.unchecked:
        lines.append(f"not compared ({ONE_REPLICA_REASON}): {', '.join(result.unchecked)}")
    return lines


def first_divergence_place(pair: WorkerPair) -> str:
    """``snapshot 'w', step 0``, or ``''`` when the pair did not diverge."""
    first_divergence = pair.result.first_divergence
    if first_divergence is None:
        return ""
    return f"{kind_label(first_divergence.kind)} '{first_divergence.name}', step {first_divergence.step}"


def worker_line(pair: WorkerPair) -> str:
    """``worker 1: DIVERGED at snapshot 'w', step 0``."""
    place = first_divergence_place(pair)
    return f"worker {pair.worker}: {title(pair.result)}{f' at {place}' if place else ''}"


def summary_lines(result: WorkersResult) -> list[str]:
    """The head of the text report: verdict, layouts, what was compared, each worker."""
    lines = [f"tftrace diff (workers): {set_verdict(result)}",
             f"  A: {layout(result.layout_a)}; B: {layout(result.layout_b)}",
             f"  compared: {MODES[result.mode]}"]
    lines.extend(f"  {line}" for line in not_compared_lines(result))
    lines.extend(f"  {worker_line(pair)}  ({pair.path_a} vs {pair.path_b})" for pair in result.pairs)
    return lines


def render_workers(result: WorkersResult, fmt: str, *, show_all: bool = False,
                   color: bool = False) -> str:
    """The report of a worker-set diff in ``fmt``: text, json, junit or html."""
    if fmt == "json":
        return render_workers_json(result)
    if fmt == "junit":
        return render_workers_junit(result)
    if fmt == "html":
        from tftrace.report.html_workers import render_workers_html
        return render_workers_html(result)
    return render_workers_text(result, show_all=show_all, color=color)


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


def render_workers_junit(result: WorkersResult) -> str:
    """Each worker's JUnit suites (report/junit.py), named ``worker K: ...``, in one
    ``<testsuites>``; then a suite ``tftrace.workers`` with one skipped testcase per value
    the set's diff left out, so a CI page shows what was not compared."""
    root = ET.Element("testsuites", name="tftrace diff (workers)")
    tests = failures = 0
    for pair in result.pairs:
        worker = ET.fromstring(render_junit(pair.result))  # our own document
        for suite in worker.findall("testsuite"):
            suite.set("name", f"worker {pair.worker}: {suite.get('name')}")
            for case in suite.iter("testcase"):
                case.set("classname", f"worker-{pair.worker}.{case.get('classname')}")
            root.append(suite)
        tests += int(worker.get("tests", "0"))
        failures += int(worker.get("failures", "0"))
    left_out = [(name, PER_REPLICA_REASON) for name in result.per_replica] + \
        [(name, ONE_REPLICA_REASON) for name in result.unchecked]
    suite = ET.SubElement(root, "testsuite", name="tftrace.workers", tests=str(len(left_out)),
                          failures="0", errors="0", skipped=str(len(left_out)))
    for name, reason in left_out:  # names come from the traces: escaped as junit.py does
        case = ET.SubElement(suite, "testcase", name=safe_line(name), classname="tftrace.workers")
        ET.SubElement(case, "skipped", message=f"not compared: {reason}")
    root.set("tests", str(tests + len(left_out)))
    root.set("failures", str(failures))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
