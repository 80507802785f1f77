"""The one-trace checks of ``tftrace check``: each finds events and facts, no words.

Reads only event digests and statistics, never an array.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from tftrace.format.digest import digests_prove_equal
from tftrace.format.events import EventKind, RandomOpAttrs, VariableAttrs
from tftrace.format.gaps import read_gaps
from tftrace.format.reader import Trace, open_trace
from tftrace.format.repeats import cached_random_ops
from tftrace.format.rules import normalize_name
from tftrace.format.schema import Event
from tftrace.lint.result import CheckResult, Finding

def check(trace: Trace | str | os.PathLike[str]) -> CheckResult:
    """Lint one trace.

    Findings: a run that did not complete (raised, interrupted, killed); a pack of values
    it left open (killed while filling it: no event refers to it); anything the
    recording lists as not captured; variables created after the first call of the
    model; non-trainable variables that never change across the snapshots of a
    training run (frozen batch-norm statistics); NaN or Inf values; random ops of one
    step sharing seed, op type and shape (equal values, as in ``constant`` seed
    mode); random ops drawing equal values at every step they ran in (cached random
    values: a stateless op with a fixed seed); variables with identical, non-constant
    initial values.

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
        status = trace.status
        findings.append(Finding("incomplete", facts={
            "status": status.status, "exception_type": status.exception_type,
            "exception_message": status.message, "signal": status.signal,
            "last_seq": events[-1].seq if events else None}))
    for key in trace.unclosed_packs():
        findings.append(Finding("unclosed-pack", facts={"key": key}))
    for gap in read_gaps(trace.environment, str(trace.path)):
        findings.append(Finding("not-captured", facts=gap.to_dict()))
    findings += _late_variables(events)
    findings += _frozen_non_trainable(events)
    findings += _nan_inf(events)
    findings += _shared_seeds(events)
    findings += [Finding("cached-random", tuple(found["seqs"]), found) for found in cached_random_ops(events)]
    findings += _identical_initial_values(events)
    return CheckResult(str(trace.path), trace.complete, len(events), tuple(findings),
                       trace.status.status)


def _trainable(ev: Event) -> bool | None:
    return ev.attrs.trainable if isinstance(ev.attrs, VariableAttrs) else None


def _late_variables(events: tuple[Event, ...]) -> list[Finding]:
    out = []
    for ev in events:
        call = ev.attrs.call_index if isinstance(ev.attrs, VariableAttrs) else None
        if call is not None and call > 0:
            out.append(Finding("late-variable", (ev.seq,), {
                "name": ev.name, "call_index": call, "seq": ev.seq, "call_site": ev.call_site}))
    return out


def _frozen_non_trainable(events: tuple[Event, ...]) -> list[Finding]:
    initial = {normalize_name(ev.name): ev for ev in events if ev.kind is EventKind.VARIABLE}
    history: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.kind is EventKind.SNAPSHOT:
            history[normalize_name(ev.name)].append(ev)

    def changes(name: str) -> bool | None:
        """Whether the value ever changes (initial value, then snapshots); None: unknown."""
        digests = ([initial[name].digest] if name in initial else []) + \
            [ev.digest for ev in history.get(name, [])]
        if len(digests) < 2 or not history.get(name) or None in digests:
            return None
        return len(set(digests)) > 1

    trainable = [n for n, ev in initial.items() if _trainable(ev) is True]
    if not any(changes(n) for n in trainable):
        return []  # not a training run (or no snapshots): nothing is expected to change
    out = []
    for name, ev in initial.items():
        if _trainable(ev) is False and history.get(name) and changes(name) is False:
            steps = sorted({s.step for s in history[name]})
            out.append(Finding("frozen-non-trainable", (ev.seq,) + tuple(s.seq for s in history[name]),
                               {"name": name, "steps": steps}))
    return out


def _nan_inf(events: tuple[Event, ...]) -> list[Finding]:
    out = []
    for ev in events:
        if ev.stats is not None and (ev.stats.nan_count or ev.stats.inf_count):
            out.append(Finding("nan-inf", (ev.seq,), {
                "kind": ev.kind, "name": ev.name, "step": ev.step, "seq": ev.seq,
                "nan": ev.stats.nan_count, "inf": ev.stats.inf_count, "size": ev.stats.size}))
    return out


def _shared_seeds(events: tuple[Event, ...]) -> list[Finding]:
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for ev in events:
        attrs = ev.attrs
        if isinstance(attrs, RandomOpAttrs) and attrs.seed is not None:
            groups[(ev.step, attrs.seed, attrs.op_type, ev.shape, ev.dtype)].append(ev)
    out = []
    for (step, seed, op_type, shape, _), group in groups.items():
        if len(group) > 1:
            out.append(Finding("shared-random-seed", tuple(ev.seq for ev in group), {
                "count": len(group), "op_type": op_type, "shape": list(shape or ()), "step": step,
                "seed": list(seed), "events": [(ev.seq, ev.name) for ev in group]}))
    return out


def _identical_initial_values(events: tuple[Event, ...]) -> list[Finding]:
    groups: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.kind is not EventKind.VARIABLE or ev.digest is None or ev.stats is None or ev.stats.size < 2:
            continue
        if ev.stats.min is not None and ev.stats.min == ev.stats.max:
            continue  # constant fills (zeros, ones) are equal on purpose
        groups[ev.digest].append(ev)
    out = []
    for same_digest in groups.values():
        for group in _proven_equal(same_digest):
            if len(group) < 2:
                continue
            out.append(Finding("identical-initial-values", tuple(ev.seq for ev in group),
                               {"names": [ev.name for ev in group]}))
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
