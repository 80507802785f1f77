"""The words for a diff's verdict, how each run ended, and what was not captured.

Shared by the text and JUnit reports (and any other renderer): the result holds codes,
this module turns them into sentences.
"""

from __future__ import annotations

from typing import Any, Mapping

from tftrace.compare.result import DiffResult, TraceInfo
from tftrace.report.words import KIND_LABELS

TITLES = {
    "equivalent": "EQUIVALENT",
    "equivalent-prefix": "EQUIVALENT UP TO THE END OF AN UNFINISHED RUN",
    "diverged": "DIVERGED",
    "incomplete": "NOT EQUIVALENT: A RUN DID NOT COMPLETE",
    "nothing-compared": "NOT EQUIVALENT: NOTHING WAS COMPARED",
    "capture-gap": "NOT EQUIVALENT: CAPTURE GAPS",
}
COLOURS = {"equivalent": "green", "equivalent-prefix": "yellow", "diverged": "red",
           "incomplete": "yellow", "nothing-compared": "yellow", "capture-gap": "yellow"}
#: Why something was not captured, by reason code (tftrace/format/gaps.py).
GAP_REASONS = {
    "never-computed": "no Session.run computed it",
    "not-fetchable": "inside TF1 control flow, where a Session cannot fetch it",
    "xla": "inside an XLA-compiled function (jit_compile=True), which tftrace cannot observe",
    "no-initial-value": "the variable never got a value tftrace could read",
    "initial-value-after-update": ("the initial value was read after the function's first "
                                   "execution (its initializer depends on the function's inputs)"),
    "observer-effect": "observing it would change the program's results",
    "other": "not captured",
}


def title(result: DiffResult) -> str:
    return TITLES[result.verdict]


def colour(result: DiffResult) -> str:
    return COLOURS[result.verdict]


def run_ending(info: TraceInfo) -> str:
    """How a run ended, after "the run": ``raised RuntimeError: boom``, ``was killed ...``."""
    return ending(info.status, info.exception_type, info.exception_message, info.signal)


def ending(status: str, exception_type: str | None = None, message: str | None = None,
           signal: str | None = None) -> str:
    """``run_ending`` from the status fields themselves (a trace's ``RunStatus``)."""
    if status == "completed":
        return "completed"
    if status == "raised":
        what = exception_type or "an exception"
        return f"raised {what}: {message}" if message else f"raised {what}"
    if status == "interrupted":
        return f"was interrupted by {signal or 'a signal'}"
    if status == "killed":
        return "was killed (the trace has no end record)"
    if status == "stopped":
        return "was stopped at its first divergence (--stop-at-first-divergence)"
    return status


def reasons(result: DiffResult) -> list[str]:
    """The sentences that explain a verdict other than a plain EQUIVALENT or DIVERGED."""
    return document_reasons({"a": result.a.to_dict(), "b": result.b.to_dict(), "verdict": result.verdict,
                             "compared": result.compared, "kinds": list(result.kinds)},
                            gap_count=result.gap_count)


def document_reasons(document: Mapping[str, Any], gap_count: int | None = None) -> list[str]:
    """:func:`reasons` from a JSON report (``DiffResult.to_dict()``), as the HTML report has it.

    ``gap_count``: the pairs with status ``gap``, counted in ``document["pairs"]`` if not given.
    """
    lines = []
    for label in ("A", "B"):
        info = document.get(label.lower()) or {}
        if not info.get("complete", True):
            ending_text = ending(str(info.get("status", "killed")), info.get("exception_type"),
                                 info.get("exception_message"), info.get("signal"))
            lines.append(f"{label} did not complete: the run {ending_text}")
    if document.get("verdict") == "incomplete":
        lines.append("an unfinished run proves nothing past its end; compare its prefix "
                     "anyway with --allow-incomplete")
    elif document.get("verdict") == "equivalent-prefix":
        lines.append("compared up to the end of the unfinished run (--allow-incomplete)")
    if document.get("compared") == 0:
        kinds = ", ".join(KIND_LABELS.get(k, str(k)) for k in document.get("kinds", ()))
        a, b = document.get("a") or {}, document.get("b") or {}
        lines.append(f"nothing was compared: no event of the compared kinds ({kinds}) is in "
                     f"both traces (A has {a.get('events', 0)} events, B {b.get('events', 0)})")
    if gap_count is None:
        gap_count = sum(1 for p in document.get("pairs", ()) if p.get("status") == "gap")
    if gap_count:
        noun = "event" if gap_count == 1 else "events"
        lines.append(f"{gap_count} {noun} of one trace could not be compared because the other "
                     f"run did not capture them (capture gaps, not divergences)")
    return lines


def gap_line(gap: Mapping[str, Any]) -> str:
    """``endpoint 'logits' (3 times): inside an XLA-compiled function ... [in f, at x.py:3]``."""
    count = gap.get("count", 1)
    times = f" ({count} times)" if isinstance(count, int) and count > 1 else ""
    reason = GAP_REASONS.get(str(gap.get("reason")), str(gap.get("reason")))
    detail = gap.get("detail")
    where = [f"in {gap['function']}"] if gap.get("function") else []
    if gap.get("call_site"):
        where.append(f"at {gap['call_site']}")
    text = f"{str(gap.get('kind', '?')).replace('_', ' ')} {gap.get('name')!r}{times}: {reason}"
    if detail:
        text += f" ({detail})"
    return text + (f" [{', '.join(where)}]" if where else "")
