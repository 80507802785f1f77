"""The words of a recording against a trace: what the comparison while recording did,
then the report ``diff`` gives for the two traces (report/text.py)."""

from __future__ import annotations

from typing import Any, Mapping

from tftrace.compare.result import DiffResult
from tftrace.report.text import render_text


def against_lines(summary: Mapping[str, Any]) -> list[str]:
    """What was compared while recording, how, and which values B's trace keeps."""
    statuses = summary.get("statuses") or {}
    by = summary.get("compared_by") or {}
    total = sum(statuses.values())
    counts = ", ".join(f"{statuses[s]} {word}" for s, word in (
        ("equal", "equal"), ("close", "close"), ("diverged", "diverged"),
        ("unpaired", "not paired")) if statuses.get(s))
    how = ", ".join(f"{by[k]} by {k}" for k in ("digest", "values", "statistics", "structure") if by.get(k))
    lines = [f"Compared while recording against {summary.get('trace')}: {total} event"
             f"{'' if total == 1 else 's'}" + (f" ({counts}; {how})" if counts else "") + "."]
    window = (f"{summary.get('window_kept', 0)} of the {summary.get('window')} before the first "
              "divergence" if summary.get("first_seq") is not None else "no window (no divergence)")
    lines.append(f"Values kept in B's trace: {summary.get('kept', 0)} event(s) that diverged, were "
                 f"not paired or are close by values only, {window}; every other event has "
                 "statistics and digest only.")
    if summary.get("a_values") == "stats":
        lines.append("A holds statistics only: events were compared by their statistics and "
                     "digests, not element by element.")
    if summary.get("too_large"):
        lines.append(f"{summary['too_large']} value(s) larger than the window's memory bound "
                     "were not held for the window.")
    if summary.get("stopped"):
        lines.append(f"The run was stopped at the first divergence (event #{summary.get('first_seq')} "
                     "of B); later events were not recorded.")
    return lines


def render_against(result: DiffResult, summary: Mapping[str, Any]) -> str:
    """The comparison's lines, then ``diff``'s text report of A and B."""
    return "\n".join(against_lines(summary)) + "\n\n" + render_text(result)
