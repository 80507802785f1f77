"""The diagnosis of a diff: relationships at the first divergence, the pitfalls they and
the runs show, and what could not be decided.

Where the first divergence carries no values (a variable or random op only in one trace,
often framework state such as an optimizer's iteration counter; a layer or op captured
with statistics only), the relationships are looked for at the first pair whose values
diverged and were stored, and each says where (``at``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tftrace.compare.explain import pitfalls, runs
from tftrace.compare.explain.evidence import AttributeSource, Evidence
from tftrace.compare.explain.findings import PITFALLS, RELATIONSHIPS, Diagnosis
from tftrace.compare.explain.relations import relate
from tftrace.compare.explain.series import lagged, stale
from tftrace.compare.result import DiffResult, Note, PairResult
from tftrace.format.reader import Trace

#: Problems of a pair whose two values can be related.
VALUE_PROBLEMS = ("values", "shape", "dtype", "statistics", "nan_inf")
#: Kinds whose values over steps are a series (variables have one value, random ops are draws).
SERIES_KINDS = ("endpoint", "snapshot")
#: Relationships that need the values of both sides.
VALUE_RELATIONSHIPS = ("scaled", "offset", "sign-flip", "permuted", "lower-precision", "masked", "noise")


def diagnose_result(result: DiffResult, a: Trace, b: Trace,
                    attributes: AttributeSource | None = None, pairs: int = 0) -> DiffResult:
    """The result with its diagnosis: on ``first_divergence`` when something diverged,
    else on the result itself when values were close but not equal (round-off and the
    settings that explain it). With ``pairs``, also the relationships and value pitfalls
    of each later diverging pair, for the first ``pairs`` of them."""
    evidence = Evidence(a, b, result, attributes)
    first = result.first_divergence
    if first is not None:
        explained = replace(first, diagnosis=diagnose_divergence(evidence, first))
        diagnosed = tuple(explained if p is first else p for p in result.pairs)
        if pairs:
            diagnosed = _diagnose_pairs(evidence, diagnosed, explained, pairs)
        notes = result.note_facts
        left = sum(1 for p in diagnosed if p is not explained and _diagnosable(p) and not p.diagnosis)
        if pairs and left:
            notes = (*notes, Note("pair-diagnoses", {"limit": pairs, "left": left}))
        return replace(result, first_divergence=explained, pairs=diagnosed, note_facts=notes)
    close = next((p for p in result.pairs if p.status == "close" and p.compared_by == "values"), None)
    if close is None:
        return result
    return replace(result, diagnosis=_ordered(diagnose_close(evidence, close)))


def _diagnosable(pair: PairResult) -> bool:
    return pair.status == "diverged" and pair.problem in VALUE_PROBLEMS and \
        pair.seq_a is not None and pair.seq_b is not None


def _diagnose_pairs(evidence: Evidence, pairs: tuple[PairResult, ...], first: PairResult,
                    limit: int) -> tuple[PairResult, ...]:
    """Each diverging pair after the first with its own value diagnosis (``limit`` pairs at
    most: each reads two arrays of at most ``MAX_ELEMENTS`` and a bounded series)."""
    out, done = [], 0
    for pair in pairs:
        if pair is not first and done < limit and _diagnosable(pair):
            pair = replace(pair, diagnosis=_ordered(_value_diagnoses(evidence, pair)))
            done += 1
        out.append(pair)
    return tuple(out)


def value_pair(evidence: Evidence, first: PairResult) -> PairResult | None:
    """The pair whose values are related: the first divergence, or the first later pair
    whose values diverged; of those, the first whose values both traces stored (a layer
    or op captured with statistics only has none to relate), else the first."""
    candidates = [pair for pair in (first, *evidence.result.pairs) if _diagnosable(pair)]
    for pair in candidates:
        events = (evidence.event("a", pair.seq_a), evidence.event("b", pair.seq_b))
        if all(event is not None and event.stored for event in events):
            return pair
    return candidates[0] if candidates else None


def diagnose_divergence(evidence: Evidence, first: PairResult) -> tuple[Diagnosis, ...]:
    found: list[Diagnosis] = []
    pair = value_pair(evidence, first)
    if pair is not None:
        found.extend(_value_diagnoses(evidence, pair))
    if pair is not first:  # the first divergence's own attributes (an op's epsilon...)
        found.extend(pitfalls.attribute_pitfalls(evidence, first))
    found.extend(_run_diagnoses(evidence))
    return _ordered(found)


def diagnose_close(evidence: Evidence, pair: PairResult) -> list[Diagnosis]:
    found = _value_diagnoses(evidence, pair)
    environment = runs.environment(evidence)
    if environment is not None:
        found.append(environment)
    return found


def _value_diagnoses(evidence: Evidence, pair: PairResult) -> list[Diagnosis]:
    at = pitfalls.where(pair)
    a, b = evidence.pair_values(pair)
    found: list[Diagnosis] = []
    related = pitfalls.Related(pair, a, b)
    if a is None or b is None:
        found.extend(pitfalls.attribute_pitfalls(evidence, pair))
        found.extend(p for p in [pitfalls.data_format(related)] if p is not None)
        keys = {f"a:{pair.name}@{pair.step}", f"b:{pair.name_b or pair.name}@{pair.step}"}
        reasons = sorted({why for where, why in evidence.unread.items() if where in keys})
        if reasons:
            found.append(Diagnosis("not-decided", {"at": at, "reasons": reasons,
                                                   "codes": list(VALUE_RELATIONSHIPS)}))
        return found
    relations = dict(relate(a, b, pair.dtype_a or "", pair.dtype_b or "", evidence.shapes()))
    found.extend(Diagnosis(code, {"at": at, **facts}) for code, facts in relations.items())
    related = pitfalls.Related(pair, a, b, relations)
    found.extend(pitfalls.value_pitfalls(evidence, related))
    if pair.kind in SERIES_KINDS:
        found.extend(_series_diagnoses(evidence, pair))
    noise = relations.get("noise")
    if noise is not None and pair.kind == "endpoint":  # a forward value, not an update's drift
        grappler = runs.grappler_arithmetic(evidence, noise)
        if grappler is not None:
            found.append(grappler)
    return found


def _series_diagnoses(evidence: Evidence, pair: PairResult) -> list[Diagnosis]:
    steps, series_a, series_b = evidence.series(pair)
    at = {"kind": pair.kind, "name": pair.name}
    found = []
    initial = evidence.initial_value(pair.name)
    shift = lagged(steps, series_a, series_b, initial)
    if shift is not None:
        found.append(Diagnosis("lagged", {"at": at, **shift}))
    frozen = stale(steps, series_a, series_b)
    if frozen is not None:
        found.append(Diagnosis("stale", {"at": at, **frozen}))
        if runs.LEARNING_RATE.search(pair.name):
            found.append(Diagnosis("constant-learning-rate", {"at": at, **frozen}))
    return found


def _run_diagnoses(evidence: Evidence) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    for recognise in (runs.training_flag, runs.cached_random, runs.new_variables_per_call,
                      runs.environment):
        diagnosis = recognise(evidence)
        if diagnosis is not None:
            found.append(diagnosis)
    found.extend(runs.constant_learning_rate(evidence))
    return found


def _ordered(found: list[Diagnosis]) -> tuple[Diagnosis, ...]:
    """One diagnosis per code (the first found), relationships first, then pitfalls, then
    what was not decided."""
    first_of: dict[str, Diagnosis] = {}
    for diagnosis in found:
        first_of.setdefault(diagnosis.code, diagnosis)
    rank: dict[str, Any] = {code: n for n, code in enumerate(RELATIONSHIPS + PITFALLS)}
    return tuple(sorted(first_of.values(), key=lambda d: rank.get(d.code, len(rank))))
