"""Recording against a trace: the one place that joins a recording (recording/against.py:
which values B keeps, when it stops), the comparison of each event as it is recorded
(compare/online.py) and, when the run ends, ``diff(A, B)`` read one step at a time
(compare/streamed.py) and its report (report/against.py).

``tftrace.record(..., against=A)``, ``tftrace.replay(..., against=A)`` and
``tftrace record --against A`` come here; docs/recording.md, "Recording against a trace".
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from tftrace.compare.online import OnlineComparison
from tftrace.compare.streamed import streamed_diff
from tftrace.compare.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, Tolerances
from tftrace.errors import UsageError
from tftrace.format.reader import open_trace
from tftrace.format.rules import parse_rename_rule
from tftrace.recording.against import DEFAULT_WINDOW, DEFAULT_WINDOW_BYTES, AgainstRecording
from tftrace.recording.recorder import Recorder, record, replay
from tftrace.recording.script import run_script_in
from tftrace.report.against import render_against

REPORT_TARGETS = ("stderr", "stdout", None)


@dataclass(frozen=True)
class AgainstOptions:
    """How run B is compared with trace A while it is recorded.

    Attributes
    ----------
    trace : path-like or str
        Trace A (full, or statistics-only: then B is compared by statistics and digests).
    window : int
        Values of the events recorded just before the first divergence that are stored
        with it (0: none).
    window_bytes : int
        Memory bound of that window; a single value larger than it is not held.
    stop_at_first_divergence : bool
        End the run at the first divergence (the trace ends ``stopped``).
    rtol, atol, tolerances, rename
        As for :func:`tftrace.diff`, for the comparison while recording and the final diff.
    report : {"stderr", "stdout", None}
        Where the report is printed when the run ends (None: not printed; it is
        ``rec.against.result`` either way).
    """

    trace: str | os.PathLike[str]
    window: int = DEFAULT_WINDOW
    window_bytes: int = DEFAULT_WINDOW_BYTES
    stop_at_first_divergence: bool = False
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    tolerances: Mapping[str, Any] | tuple[str, ...] | None = None
    rename: tuple[Any, ...] = field(default_factory=tuple)
    report: str | None = "stderr"

    def __post_init__(self) -> None:
        if self.report not in REPORT_TARGETS:
            raise UsageError(f"against report must be one of 'stderr', 'stdout', None; "
                             f"got {self.report!r}")


def against_options(against: str | os.PathLike[str] | AgainstOptions | None, *,
                    window: int = DEFAULT_WINDOW, stop_at_first_divergence: bool = False,
                    rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                    tolerances: Mapping[str, Any] | Iterable[str] | None = None,
                    rename: Iterable[Any] | None = None,
                    report: str | None = "stderr") -> AgainstOptions | None:
    """The API's keyword arguments as :class:`AgainstOptions` (None: not against a trace)."""
    if against is None:
        if stop_at_first_divergence:
            raise UsageError("stop_at_first_divergence needs against=A (the trace to compare with)")
        return None
    if isinstance(against, AgainstOptions):
        return against
    overrides = tolerances if tolerances is None or isinstance(tolerances, Mapping) else tuple(tolerances)
    return AgainstOptions(against, window=window, stop_at_first_divergence=stop_at_first_divergence,
                          rtol=rtol, atol=atol, tolerances=overrides, rename=tuple(rename or ()),
                          report=report)


@contextlib.contextmanager
def record_against(path: str | os.PathLike[str], options: AgainstOptions,
                   replay_source: str | os.PathLike[str] | None = None,
                   **recording: Any) -> Iterator[Recorder]:
    """``record(path, ...)`` (or ``replay(replay_source, record_to=path, ...)``) compared with
    ``options.trace`` while it runs; when the block completes or is stopped at the first
    divergence, ``diff(A, B)`` (read step by step) is ``rec.against.result`` and its report
    is printed."""
    tolerances = Tolerances.build(options.rtol, options.atol, options.tolerances)
    rules = tuple(parse_rename_rule(r) for r in options.rename)
    # A missing or unreadable A fails here, before B exists; its events are streamed while
    # B is compared (compare/online.py), not loaded.
    trace_a = open_trace(options.trace, load_events=False)
    try:
        compared = AgainstRecording(OnlineComparison(trace_a, tolerances, rules),
                                    os.fspath(options.trace), options.window, options.window_bytes,
                                    options.stop_at_first_divergence)
        if replay_source is None:
            block = record(path, against=compared, **recording)
        else:
            block = replay(replay_source, record_to=path, against=compared, **recording)
        exit_error: SystemExit | None = None
        try:
            with block as recorder:
                yield recorder
        except SystemExit as exc:  # sys.exit(0) ends a script normally: it gets its report
            if exc.code not in (None, 0):
                raise
            exit_error = exc
        # Here the run completed or was stopped; a run that raised is left to `tftrace diff`.
        # diff(A, B)'s verdict and first divergence, both traces read one step at a time
        # (compare/streamed.py): the memory does not grow with the run's length.
        final = streamed_diff(options.trace, path, rtol=options.rtol, atol=options.atol,
                              tolerances=options.tolerances, rename=options.rename)
        compared.result = final.result
        compared.final = {"streamed": final.fallback is None, "fallback": final.fallback}
        if options.report is not None:
            print(render_against(compared.result, compared.summary()),
                  file=sys.stdout if options.report == "stdout" else sys.stderr)
        if exit_error is not None:
            raise exit_error
    finally:
        trace_a.close()


def run_script_against(script: str | os.PathLike[str], args: Sequence[str], *, output: str,
                       options: AgainstOptions, replay: str | os.PathLike[str] | None = None,
                       replay_random: bool = True, replay_variables: bool = True,
                       **recording: Any) -> int:
    """``tftrace record --against``: run ``script`` recorded against ``options.trace``.

    Returns the script's exit status when it failed, else ``diff``'s exit code: 0 when B
    is equivalent to A, 1 when not (also when stopped at the first divergence).
    """
    if replay is not None:
        recording.update(random=replay_random, variables=replay_variables,
                         rename=options.rename)
    block = record_against(output, options, replay, **recording)
    status, recorder = run_script_in(script, args, block)
    result = recorder.against.result if recorder is not None and recorder.against is not None else None
    if result is None or status != 0:
        return status
    return 0 if result.equivalent else 1
