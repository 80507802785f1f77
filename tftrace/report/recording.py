"""The short summary a recording prints on stderr when it ends."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tftrace.format.status import RunStatus
from tftrace.report.verdict import gap_line

#: At most this many not-captured lines on stderr (the trace holds them all).
MAX_LINES = 10


def recording_summary(path: str, counts: Mapping[str, int], status: RunStatus,
                      gaps: Sequence[Mapping[str, Any]], write_error: Exception | None = None) -> str:
    """``tftrace: wrote run.zarr: 12 events (variable 4, endpoint 8); the run completed``,
    then one line per thing not captured."""
    total = sum(counts.values())
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
    ending = {"completed": "the run completed", "interrupted": f"the run was interrupted by "
              f"{status.signal or 'a signal'}",
              "stopped": "the run was stopped at its first divergence"}.get(status.status, f"the run raised "
                                                     f"{status.exception_type or 'an exception'}")
    verb = "could not finish" if write_error is not None else "wrote"
    lines = [f"tftrace: {verb} {path}: {total} event{'' if total == 1 else 's'}"
             + (f" ({kinds})" if kinds else "") + f"; {ending}"]
    if gaps:
        lines.append(f"tftrace: not captured ({len(gaps)}; listed in the trace, `tftrace show`):")
        for gap in gaps[:MAX_LINES]:
            lines.append(f"  {gap_line(gap)}")
        if len(gaps) > MAX_LINES:
            lines.append(f"  ... and {len(gaps) - MAX_LINES} more")
    return "\n".join(lines)


def observer_effect_warning(kind: str, name: str, function: str | None) -> str:
    """The stderr line when an observation is left out because it would change results
    (``function``: the tf.function; None: a Session.run)."""
    where, what = (f"in {function}", function) if function else ("in a Session.run", "that run")
    return (f"tftrace: {kind.replace('_', ' ')} {name!r} {where} is not recorded: observing it "
            f"would change how TensorFlow optimizes {what}, and so the program's results "
            f"(listed in the trace as not captured: observer-effect)")


def statistics_kernel_warning(reason: str) -> str:
    """The stderr line when the one-pass statistics kernel cannot be had (said once a
    process): the in-graph statistics use TensorFlow's reductions instead."""
    return (f"tftrace: the statistics kernel is not available ({reason}); statistics at level "
            f"stats are computed with TensorFlow's reductions instead (the same statistics, "
            f"slower; the trace records which)")
