"""Render one trace for `tftrace show` and `tftrace cat` (text and JSON).

Text output goes through :func:`~tftrace.report.escape.safe_text`: whatever a trace
holds, no control sequence reaches the terminal.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Iterator

import numpy as np

from tftrace.format.gaps import not_captured
from tftrace.format.reader import Trace
from tftrace.format.schema import Event
from tftrace.report.escape import json_safe, safe_line, safe_text
from tftrace.report.verdict import ending, gap_line


def trace_summary(trace: Trace) -> dict[str, Any]:
    """The JSON document of `tftrace show --json`."""
    return {
        "path": str(trace.path),
        "format_version": trace.format_version,
        "complete": trace.complete,
        "status": trace.status.to_dict(),
        "not_captured": json_safe(list(not_captured(trace))),
        "environment": json_safe(trace.environment),
        "counts": trace.counts(),
        "events": [json_safe(ev.to_dict()) for ev in trace.events],
    }


def show_json(trace: Trace) -> str:
    return json.dumps(trace_summary(trace), indent=2, allow_nan=False)


def show_text(trace: Trace) -> str:
    """The text of `tftrace show`."""
    return "\n".join(show_lines(trace))


def show_blocks(trace: Trace, lines_per_block: int = 4096) -> Iterator[str]:
    """The text of `tftrace show` in blocks of lines, to print as they come."""
    block: list[str] = []
    for line in show_lines(trace):
        block.append(line)
        if len(block) >= lines_per_block:
            yield "\n".join(block)
            block = []
    if block:
        yield "\n".join(block)


def show_lines(trace: Trace) -> Iterator[str]:
    """The lines of `tftrace show`, one at a time (a trace may hold millions of events)."""
    lines = [f"trace    {trace.path}",
             f"format   tftrace v{trace.format_version}, "
             + ("complete" if trace.complete else
                f"INCOMPLETE: the run {_ending(trace)}; " + (
                    "every event up to the stop" if trace.status.status == "stopped"
                    else "events up to the last flush"))]
    env = trace.environment
    for key in sorted(env):
        if key in ("complete", "not_captured"):
            continue
        lines.append(f"  {_short(key):<18} {_short(env[key])}")
    gaps = not_captured(trace)
    lines.append(f"not captured   {len(gaps) or 'nothing'}")
    for gap in gaps:
        lines.append(f"  {display_name(gap_line(gap))}")
    counts = trace.counts()
    steps = (min(ev.step for ev in trace.events), max(ev.step for ev in trace.events)) if trace.events else None
    kinds = ", ".join(f"{k} {n}" for k, n in counts.items()) or "none"
    step_text = f"; steps {steps[0]}..{steps[1]}" if steps else ""
    lines.append(f"events   {len(trace.events)} ({kinds}){step_text}")
    yield from (safe_text(line) for line in lines)
    if trace.events:
        header = ("seq", "step", "kind", "name", "shape", "dtype", "min", "max", "mean", "nan", "inf")
        widths = [len(h) for h in header]
        for ev in trace.events:  # a first pass for the column widths, keeping no rows
            for i, cell in enumerate(_event_row(ev)):
                widths[i] = max(widths[i], len(cell))
        widths[3] = min(widths[3], 60)
        for r in itertools.chain([header], (_event_row(ev) for ev in trace.events)):
            yield "  " + "  ".join(_cell(c, w) for c, w in zip(r, widths)).rstrip()


def _ending(trace: Trace) -> str:
    status = trace.status
    return ending(status.status, status.exception_type, status.message, status.signal)


def cat_text(trace: Trace, event: Event, values: np.ndarray | None) -> str:
    """The text of `tftrace cat`: header, statistics, attrs and values, escaped."""
    lines = [f"{event.kind} {display_name(event.name)}  step {event.step}  occurrence "
             f"{event.occurrence}  seq {event.seq}",
             f"shape {list(event.shape or ())}  dtype {event.dtype}  digest {event.digest}"]
    if event.stats is not None:
        s = event.stats
        lines.append(f"min {_num(s.min)}  max {_num(s.max)}  mean {_num(s.mean)}  "
                     f"nan {s.nan_count}  inf {s.inf_count}  size {s.size}")
    for key, value in sorted(event.attrs.to_dict().items()):
        lines.append(f"{_short(key)}: {_short(value)}")
    if values is None:
        lines.append("values not stored (recorded with --capture stats)")
    else:
        with np.printoptions(threshold=200, edgeitems=5, linewidth=100):
            lines.append(np.array2string(values, separator=", ") if values.ndim else repr(values.item()))
    return safe_text("\n".join(lines))


def display_name(name: str) -> str:
    """A name as one printable line (control characters escaped)."""
    return safe_line(name)


def _event_row(ev: Event) -> tuple[str, ...]:
    s = ev.stats
    name = display_name(ev.name)
    return (str(ev.seq), str(ev.step), ev.kind, name,
            "-" if ev.shape is None else "[" + ",".join(map(str, ev.shape)) + "]",
            ev.dtype or "-", _num(s.min if s else None), _num(s.max if s else None),
            _num(s.mean if s else None), str(s.nan_count) if s else "-",
            str(s.inf_count) if s else "-")


def _cell(text: str, width: int) -> str:
    if len(text) > width:
        # Elide in the middle: the first scope and the leaf both say which variable it is.
        head = (width - 1) // 3
        text = text[:head] + "…" + text[len(text) - (width - 1 - head):]
    return text.ljust(width)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(json_safe(value), allow_nan=False)
    text = safe_line(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


#: What each kind of event holds, for the ambiguity message of ``cat``.
KIND_MEANINGS = {"variable": "initial value", "snapshot": "value at the step",
                 "endpoint": "endpoint", "random_op": "random values"}


def ambiguous_name(name: str, step: int, events: Any) -> str:
    """``cat``'s error when several kinds have ``name`` at ``step``."""
    kinds = list(dict.fromkeys(ev.kind for ev in events))
    listed = ", ".join(f"{k} ({KIND_MEANINGS.get(k, k)})" for k in kinds)
    options = " or ".join(f"--kind {k}" for k in kinds)
    return f"{name!r} at step {step} is recorded as {listed}; expected one: pass {options}"
