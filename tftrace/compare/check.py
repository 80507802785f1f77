"""One-trace lints (``tftrace check``): things that weaken or break an equivalence test.

Reads only event digests and statistics, never an array.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tftrace.compare.align import normalize_name
from tftrace.format.digest import digests_prove_equal
from tftrace.format.gaps import read_gaps
from tftrace.format.reader import Trace, open_trace
from tftrace.format.schema import Event

#: Finding codes, in the order the report lists them.
CODES = ("incomplete", "not-captured", "late-variable", "frozen-non-trainable", "nan-inf",
         "shared-random-seed", "identical-initial-values")
CHECK_REPORT_VERSION = 1


@dataclass(frozen=True)
class Finding:
    """One thing found: a code from ``CODES``, a sentence, and the events involved."""

    code: str
    message: str
    seqs: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "seqs": list(self.seqs)}


@dataclass(frozen=True)
class CheckResult:
    path: str
    complete: bool
    events: int
    findings: tuple[Finding, ...]
    status: str = "completed"

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"report_version": CHECK_REPORT_VERSION, "path": self.path, "ok": self.ok,
                "complete": self.complete, "status": self.status, "events": self.events,
                "findings": [f.to_dict() for f in self.findings]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def check(trace: Trace | str | os.PathLike[str]) -> CheckResult:
    """Lint one trace.

    Findings: a run that did not complete (raised, interrupted, killed); anything the
    recording lists as not captured; variables created after the first call of the
    model; non-trainable variables that never change across the snapshots of a
    training run (frozen batch-norm statistics); NaN or Inf values; random ops of one
    step sharing seed, op type and shape (equal values, as in ``constant`` seed
    mode); variables with identical, non-constant initial values.

    Parameters
    ----------
    trace : Trace or path

    Returns
    -------
    CheckResult
    """
    if not isinstance(trace, Trace):
        with open_trace(trace) as opened:
            return check(opened)
    events = trace.events
    findings: list[Finding] = []
    if not trace.complete:
        last = f"event #{events[-1].seq}" if events else "no events"
        findings.append(Finding("incomplete", f"the run did not complete: it {_ending(trace)} "
                                f"(last: {last})"))
    for gap in read_gaps(trace.environment, str(trace.path)):
        times = f" ({gap.count} times)" if gap.count > 1 else ""
        where = f" in {gap.function}" if gap.function else ""
        findings.append(Finding("not-captured", f"{gap.kind} {gap.name!r}{times} was not "
                                f"captured{where}: {gap.reason}" + (f" ({gap.detail})" if gap.detail else "")))
    findings += _late_variables(events)
    findings += _frozen_non_trainable(events)
    findings += _nan_inf(events)
    findings += _shared_seeds(events)
    findings += _identical_initial_values(events)
    return CheckResult(str(trace.path), trace.complete, len(events), tuple(findings),
                       trace.status.status)


def _ending(trace: Trace) -> str:
    status = trace.status
    if status.status == "raised":
        message = f": {status.message}" if status.message else ""
        return f"raised {status.exception_type or 'an exception'}{message}"
    if status.status == "interrupted":
        return f"was interrupted by {status.signal or 'a signal'}"
    return "was killed (no end record)" if status.status == "killed" else status.status


def _site(ev: Event) -> str:
    return f" at {ev.call_site}" if ev.call_site else ""


def _late_variables(events: tuple[Event, ...]) -> list[Finding]:
    out = []
    for ev in events:
        call = ev.attrs.get("call_index") if ev.kind == "variable" else None
        if isinstance(call, int) and call > 0:
            out.append(Finding("late-variable", f"variable {ev.name!r} was created by call #{call} "
                               f"of the model, not the first (seq {ev.seq}{_site(ev)}): "
                               "variables must be created once and reused", (ev.seq,)))
    return out


def _frozen_non_trainable(events: tuple[Event, ...]) -> list[Finding]:
    initial = {normalize_name(ev.name): ev for ev in events if ev.kind == "variable"}
    history: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.kind == "snapshot":
            history[normalize_name(ev.name)].append(ev)

    def changes(name: str) -> bool | None:
        """Whether the value ever changes (initial value, then snapshots); None: unknown."""
        digests = ([initial[name].digest] if name in initial else []) + \
            [ev.digest for ev in history.get(name, [])]
        if len(digests) < 2 or not history.get(name) or None in digests:
            return None
        return len(set(digests)) > 1

    trainable = [n for n, ev in initial.items() if ev.attrs.get("trainable") is True]
    if not any(changes(n) for n in trainable):
        return []  # not a training run (or no snapshots): nothing is expected to change
    out = []
    for name, ev in initial.items():
        if ev.attrs.get("trainable") is False and history.get(name) and changes(name) is False:
            steps = sorted({s.step for s in history[name]})
            out.append(Finding(
                "frozen-non-trainable",
                f"non-trainable variable {name!r} never changes across snapshots at steps "
                f"{steps} while trainable variables do (batch-norm statistics frozen? a Keras "
                f"model called without training=True)", (ev.seq,) + tuple(s.seq for s in history[name])))
    return out


def _nan_inf(events: tuple[Event, ...]) -> list[Finding]:
    out = []
    for ev in events:
        if ev.stats is not None and (ev.stats.nan_count or ev.stats.inf_count):
            out.append(Finding("nan-inf", f"{ev.kind} {ev.name!r} (step {ev.step}, seq {ev.seq}) "
                               f"holds {ev.stats.nan_count} NaN and {ev.stats.inf_count} Inf "
                               f"of {ev.stats.size} values", (ev.seq,)))
    return out


def _shared_seeds(events: tuple[Event, ...]) -> list[Finding]:
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for ev in events:
        seed = ev.attrs.get("seed")
        if ev.kind == "random_op" and seed is not None:
            groups[(ev.step, repr(seed), ev.attrs.get("op_type"), ev.shape, ev.dtype)].append(ev)
    out = []
    for (step, seed, op_type, shape, _), group in groups.items():
        if len(group) > 1:
            names = ", ".join(f"#{ev.seq} {ev.name!r}" for ev in group[:5])
            more = f" and {len(group) - 5} more" if len(group) > 5 else ""
            out.append(Finding(
                "shared-random-seed",
                f"{len(group)} {op_type} ops of shape {list(shape or ())} in step {step} share seed "
                f"{seed} ({names}{more}): they produce equal values, which weakens an "
                "equivalence test (seed_mode='constant'?)", tuple(ev.seq for ev in group)))
    return out


def _identical_initial_values(events: tuple[Event, ...]) -> list[Finding]:
    groups: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.kind != "variable" or ev.digest is None or ev.stats is None or ev.stats.size < 2:
            continue
        if ev.stats.min is not None and ev.stats.min == ev.stats.max:
            continue  # constant fills (zeros, ones) are equal on purpose
        groups[ev.digest].append(ev)
    out = []
    for same_digest in groups.values():
        for group in _proven_equal(same_digest):
            if len(group) < 2:
                continue
            names = ", ".join(repr(ev.name) for ev in group)
            out.append(Finding("identical-initial-values",
                               f"variables {names} have identical initial values "
                               "(initializers given the same seed?)", tuple(ev.seq for ev in group)))
    return out


def _proven_equal(events: list[Event]) -> list[list[Event]]:
    """Split events of one digest into groups whose equality the digest proves
    (a CRC digest needs equal statistics too), in recording order."""
    classes: list[list[Event]] = []
    for ev in events:
        home = next((c for c in classes if digests_prove_equal(c[0], ev)), None)
        if home is None:
            classes.append([ev])
        else:
            home.append(ev)
    return classes
