"""The words of a recording against a trace: what the comparison while recording did,
then the report ``diff`` gives for the two traces (report/text.py)."""

from __future__ import annotations

from typing import Any, Mapping

from tftrace.compare.result import DiffResult
from tftrace.report.text import render_text


#: Why the final diff could not read the traces one step at a time (compare/streamed.py).
FALLBACKS = {
    "steps-out-of-order-a": "A's log goes back to an earlier step",
    "steps-out-of-order-b": "B's log goes back to an earlier step",
    "a-incomplete": "A did not complete",
    "random-order-unmarked": "a trace's random ops do not say which are initializer draws",
    "random-ops-differ": "a step's random ops differ in type, shape or dtype, which diff aligns "
                         "across steps",
    "b-ended-early": "B ended with events of A unpaired before its last paired one",
    "op-input-earlier-step": "a diverged op's input was recorded at an earlier step",
}


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
    final = summary.get("final") or {}
    if final.get("streamed"):
        lines.append("The final diff read both traces one step at a time (its memory does not grow "
                     "with the run's length); it lists the non-equal pairs only, and counts them all.")
    elif final.get("fallback"):
        lines.append(f"The final diff read both traces whole ({FALLBACKS.get(final['fallback'], final['fallback'])}): "
                     "its memory grows with the run's length.")
    if summary.get("stopped"):
        lines.append(f"The run was stopped at the first divergence (event #{summary.get('first_seq')} "
                     "of B); later events were not recorded.")
    return lines


def render_against(result: DiffResult, summary: Mapping[str, Any]) -> str:
    """The comparison's lines, then ``diff``'s text report of A and B."""
    return "\n".join(against_lines(summary)) + "\n\n" + render_text(result)
