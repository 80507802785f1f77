"""The JUnit XML report of a diff: one testsuite per kind, one testcase per compared name.

CI systems show a ``<failure>`` per diverged, missing or extra pair and a
``<skipped>`` per pair not compared; the failure text is that pair's report lines.
Every attribute and text is escaped (:mod:`~tftrace.report.escape`), which also keeps
the document valid XML 1.0 whatever the traces' names hold.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tftrace.compare.result import DiffResult, PairResult
from tftrace.report.words import KIND_LABELS
from tftrace.report import verdict
from tftrace.report.diagnosis import diagnosis_lines
from tftrace.report.escape import safe_line, safe_text
from tftrace.report.text import pair_line, value_lines


def _case_name(pair: PairResult) -> str:
    name = f"{pair.name} @ step {pair.step}"
    if pair.occurrence:
        name += f" #{pair.occurrence}"
    if pair.kind == "random_op":
        index = pair.random_index_a if pair.random_index_a is not None else pair.random_index_b
        name = f"#{index} {pair.op_type_a or pair.op_type_b} {name}"
    return name


def render_junit(result: DiffResult) -> str:
    """A ``<testsuites>`` document, ending with a newline."""
    root = ET.Element("testsuites", name="tftrace diff")
    total_failures = total_tests = 0
    for summary in result.summary:
        pairs = [p for p in result.pairs if p.kind == summary.kind]
        # Counted from the summary: with partial pairs (result.counts) not every pair is listed.
        failures = summary.diverged + summary.missing + summary.extra + summary.gap
        tests = failures + summary.equal + summary.close + summary.skipped
        suite = ET.SubElement(root, "testsuite", name=f"tftrace.{KIND_LABELS[summary.kind].replace(' ', '_')}",
                              tests=str(tests), failures=str(failures), errors="0",
                              skipped=str(summary.skipped))
        total_failures += failures
        total_tests += tests
        for pair in pairs:
            case = ET.SubElement(suite, "testcase", name=_case_name(pair),
                                 classname=f"tftrace.{pair.kind}")
            if pair.diverged or pair.status == "gap":
                failure = ET.SubElement(case, "failure", message=pair.message, type=pair.problem or pair.status)
                body = [pair_line(pair)]
                if pair.values is not None:
                    body.extend(value_lines(pair.values))
                body.append(f"call sites: A {pair.call_site_a or '-'}, B {pair.call_site_b or '-'}")
                if pair.diagnosis:
                    body.append("diagnosis:")
                    body.extend(diagnosis_lines(pair.diagnosis))
                failure.text = "\n".join(body)
            elif pair.status == "skipped":
                ET.SubElement(case, "skipped", message=pair.message)
    # A run that did not complete proves nothing past its end, and a diff that compared
    # nothing proves nothing at all: failing testcases of their own say so.
    trace_failures = 0
    suite = ET.SubElement(root, "testsuite", name="tftrace.traces", tests="3", errors="0",
                          skipped="0")
    for label, info in (("A", result.a), ("B", result.b)):
        case = ET.SubElement(suite, "testcase", name=f"{label} complete: {info.path}",
                             classname="tftrace.trace")
        if not info.complete and not result.allow_incomplete:
            ET.SubElement(case, "failure", message=f"{label} did not complete: the run "
                          f"{verdict.run_ending(info)}", type="incomplete").text = \
                "\n".join(n for n in result.notes if n.startswith(label))
            trace_failures += 1
    case = ET.SubElement(suite, "testcase", name="something was compared", classname="tftrace.trace")
    if result.compared == 0:
        ET.SubElement(case, "failure", message="nothing was compared", type="nothing-compared")
        trace_failures += 1
    suite.set("failures", str(trace_failures))
    total_failures += trace_failures
    root.set("tests", str(total_tests + 3))
    root.set("failures", str(total_failures))
    for element in root.iter():
        for key, value in element.attrib.items():
            element.set(key, safe_line(value))
        if element.text:
            element.text = safe_text(element.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
