"""The first divergence when layers, ops, gradients and optimizer state were captured.

Pairs come in A's recording order, which is the order the values were computed. The
first divergence is the earliest diverged pair; an op counts only when every recorded
input it consumed matched (else an op upstream, or a layer, broke first), with a fallback
to the earliest diverged captured pair when no op qualifies. It is returned with what
localizes it: its layer, its attribute differences (an op), its inputs' status, the op
types of its layer that one side ran and the other did not (a changed activation), and
for a gradient or optimizer divergence how many forward values matched before it.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from tftrace.compare.dataflow import (MATCHED, attribute_differences, input_statuses,
                                      inputs_matched, op_attrs, unpaired_ops_of_layer)
from tftrace.compare.result import PairResult
from tftrace.format.events import CAPTURED_KINDS
from tftrace.format.rules import RenameRule, renamed
from tftrace.format.schema import Event

FORWARD_KINDS = ("layer", "op", "endpoint")


def first_in_dataflow(results: Sequence[PairResult], first: PairResult | None,
                      events_a: Sequence[Event], events_b: Sequence[Event],
                      rename: Sequence[RenameRule]) -> PairResult | None:
    """The first divergence (see the module docstring); ``first`` is the earliest diverged
    pair of the other kinds, which wins when it comes before every captured one."""
    if not any(r.kind in CAPTURED_KINDS and r.diverged for r in results):
        return first
    by_seq_a = {e.seq: e for e in events_a}
    by_seq_b = {e.seq: e for e in events_b}
    status_of_a = {r.seq_a: ("not-paired" if r.seq_b is None else r.status)
                   for r in results if r.seq_a is not None}
    chosen: PairResult | None = None
    fallback: PairResult | None = None
    for result in results:
        if result is first:
            return first
        if result.kind not in CAPTURED_KINDS or not result.diverged:
            continue
        fallback = fallback or result
        if result.kind == "op" and result.seq_a is not None:
            if not inputs_matched(input_statuses(by_seq_a[result.seq_a], status_of_a)):
                continue
        chosen = result
        break
    chosen = chosen or fallback
    assert chosen is not None
    return _localized(chosen, results, by_seq_a, by_seq_b, status_of_a, rename)


def _localized(result: PairResult, results: Sequence[PairResult], by_seq_a: dict[int, Event],
               by_seq_b: dict[int, Event], status_of_a: dict[int, str],
               rename: Sequence[RenameRule]) -> PairResult:
    a = by_seq_a.get(result.seq_a) if result.seq_a is not None else None
    b = by_seq_b.get(result.seq_b) if result.seq_b is not None else None
    fields: dict[str, object] = {}
    if result.kind in ("op", "layer") and a is not None:
        layer = op_attrs(a).layer if result.kind == "op" else a.name
        fields["layer"] = layer
        if result.kind == "op":
            fields["inputs"] = input_statuses(a, status_of_a)
            if b is not None:
                fields["attribute_differences"] = attribute_differences(a, b)
        if layer is not None:
            unpaired_a = {r.seq_a for r in results if r.kind == "op" and r.seq_b is None
                          and r.seq_a is not None}
            unpaired_b = {r.seq_b for r in results if r.kind == "op" and r.seq_a is None
                          and r.seq_b is not None}
            only_a, only_b = unpaired_ops_of_layer(list(by_seq_a.values()), list(by_seq_b.values()),
                                                   layer, result.step, unpaired_a, unpaired_b,
                                                   lambda name: renamed(name, rename))
            fields["ops_only_a"], fields["ops_only_b"] = only_a, only_b
    if result.kind in ("gradient", "optimizer"):
        # An optimizer's hyperparameters are read first in a step, before the forward pass
        # runs: when the step's forward values all matched, they all count.
        forward = [r for r in results if r.kind in FORWARD_KINDS and r.step == result.step]
        if any(r.diverged for r in forward):
            forward = [r for r in forward if (r.seq_a or 0) < (result.seq_a or 0)]
        fields["forward_compared"] = sum(1 for r in forward if r.status in MATCHED)
    return dataclasses.replace(result, **fields)  # type: ignore[arg-type]
