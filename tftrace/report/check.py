"""The words of ``tftrace check``: each finding's sentence, the text and the JSON report.

The lints (tftrace/lint/) find codes, events and facts; every sentence is written here.
"""

from __future__ import annotations

import json
from typing import Any

from tftrace.lint.result import CODES, CheckResult, Finding
from tftrace.report.text import Painter

CHECK_REPORT_VERSION = 1
MAX_LISTED_FINDINGS = 20


def finding_message(finding: Finding) -> str:
    """The sentence for one finding, from its code and facts."""
    facts = finding.facts
    code = finding.code
    if code == "incomplete":
        last = f"event #{facts['last_seq']}" if facts.get("last_seq") is not None else "no events"
        return f"the run did not complete: it {_ending(facts)} (last: {last})"
    if code == "unclosed-pack":
        return (f"pack {facts['key']} was left open (no {facts['key']}/zarr.json): the recording "
                "stopped while filling it; no logged event refers to it, and readers ignore it")
    if code == "not-captured":
        count = facts.get("count", 1)
        times = f" ({count} times)" if count > 1 else ""
        where = f" in {facts['function']}" if facts.get("function") else ""
        detail = f" ({facts['detail']})" if facts.get("detail") else ""
        return f"{facts['kind']} {facts['name']!r}{times} was not captured{where}: {facts['reason']}{detail}"
    if code == "late-variable":
        site = f" at {facts['call_site']}" if facts.get("call_site") else ""
        return (f"variable {facts['name']!r} was created by call #{facts['call_index']} of the model, "
                f"not the first (seq {facts['seq']}{site}): variables must be created once and reused")
    if code == "frozen-non-trainable":
        return (f"non-trainable variable {facts['name']!r} never changes across snapshots at steps "
                f"{facts['steps']} while trainable variables do (batch-norm statistics frozen? a Keras "
                f"model called without training=True)")
    if code == "nan-inf":
        return (f"{facts['kind']} {facts['name']!r} (step {facts['step']}, seq {facts['seq']}) holds "
                f"{facts['nan']} NaN and {facts['inf']} Inf of {facts['size']} values")
    if code == "shared-random-seed":
        group = facts["events"]
        names = ", ".join(f"#{seq} {name!r}" for seq, name in group[:5])
        more = f" and {len(group) - 5} more" if len(group) > 5 else ""
        return (f"{facts['count']} {facts['op_type']} ops of shape {facts['shape']} in step {facts['step']} "
                f"share seed {facts['seed']} ({names}{more}): they produce equal values, which weakens "
                "an equivalence test (seed_mode='constant'?)")
    if code == "cached-random":
        return (f"random op {facts['name']!r} drew the same values at every step it ran in "
                f"({facts['steps']}): random values cached (a fixed stateless seed, or drawn once "
                "and reused) where a new draw per step was meant?")
    if code == "identical-initial-values":
        names = ", ".join(repr(name) for name in facts["names"])
        return f"variables {names} have identical initial values (initializers given the same seed?)"
    raise ValueError(f"expected a finding code among {', '.join(CODES)}, got {code!r}")


def _ending(facts: Any) -> str:
    status = facts.get("status")
    if status == "raised":
        message = f": {facts['exception_message']}" if facts.get("exception_message") else ""
        return f"raised {facts.get('exception_type') or 'an exception'}{message}"
    if status == "interrupted":
        return f"was interrupted by {facts.get('signal') or 'a signal'}"
    return "was killed (no end record)" if status == "killed" else str(status)


def finding_document(finding: Finding) -> dict[str, Any]:
    return {"code": finding.code, "message": finding_message(finding), "seqs": list(finding.seqs)}


def check_document(result: CheckResult) -> dict[str, Any]:
    """The JSON report of ``tftrace check`` as a dict (schema: docs/report-schema.md)."""
    return {"report_version": CHECK_REPORT_VERSION, "path": result.path, "ok": result.ok,
            "complete": result.complete, "status": result.status, "events": result.events,
            "findings": [finding_document(f) for f in result.findings]}


def render_check_json(result: CheckResult, *, indent: int | None = 2) -> str:
    """The JSON report, ending with a newline."""
    return json.dumps(check_document(result), indent=indent, allow_nan=False) + "\n"


def render_check_text(result: CheckResult, *, color: bool = False) -> str:
    """The text report of ``tftrace check`` (a :class:`~tftrace.lint.result.CheckResult`)."""
    painted = Painter()
    verdict = "OK" if result.ok else f"{len(result.findings)} finding" + ("s" if len(result.findings) != 1 else "")
    lines = [f"tftrace check: {painted.mark(verdict, 'green' if result.ok else 'red')}",
             f"  trace: {result.path} ({result.events} events"
             + ("" if result.complete else f", INCOMPLETE ({result.status})") + ")"]
    for code in CODES:
        found = [f for f in result.findings if f.code == code]
        if not found:
            continue
        lines.append("")
        lines.append(f"{code} ({len(found)}):")
        for finding in found[:MAX_LISTED_FINDINGS]:
            lines.append(f"  - {finding.message}")
        if len(found) > MAX_LISTED_FINDINGS:
            lines.append(f"  ... and {len(found) - MAX_LISTED_FINDINGS} more (--format json lists all)")
    return "\n".join(painted.render(line, color) for line in lines) + "\n"
