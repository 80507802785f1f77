"""``tftrace explain A B``: the diff of A and B, and the isolation of its first diverging op.

Reading and comparing the traces imports no TensorFlow (the diff is the ordinary one);
TensorFlow is imported here, when an op is re-run, and the result's notes say so.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from tftrace.compare.divergence import TraceLike, diff
from tftrace.compare.explain.findings import Diagnosis
from tftrace.compare.explain.isolation import RUNS, IsolationPlan, classify, not_isolated, plan_isolation
from tftrace.compare.result import DiffResult, Note
from tftrace.format.reader import Trace, open_trace


def explain(a: TraceLike, b: TraceLike, **options: Any) -> DiffResult:
    """Diff two traces, then re-run their first diverging op eagerly to tell whether its
    attributes, its inputs or its kernel make the difference.

    Parameters
    ----------
    a, b : Trace or path
        The reference trace (A) and the trace checked against it (B).
    **options
        As :func:`tftrace.diff` (``rtol``, ``atol``, ``tolerances``, ``rename``, ``only``,
        ``ignore``, ...).

    Returns
    -------
    DiffResult
        The diff's result; the first divergence's ``diagnosis`` ends with one isolation
        code (``attribute``, ``inherited``, ``kernel``, ``not-reproduced``, ``not-isolated``:
        docs/diagnosis.md), and a note ``isolation`` says what was re-run, with which
        TensorFlow, or why nothing was.
    """
    opened: list[Trace] = []
    try:
        trace_a = a if isinstance(a, Trace) else _open(a, opened)
        trace_b = b if isinstance(b, Trace) else _open(b, opened)
        return isolate(diff(trace_a, trace_b, **options), trace_a, trace_b)
    finally:
        for trace in opened:
            trace.close()


def isolate(result: DiffResult, a: Trace, b: Trace) -> DiffResult:
    """``result`` with the isolation of its first diverging op (see :func:`explain`)."""
    plan = plan_isolation(result, a, b)
    if plan is None:
        return _with(result, None, Note("isolation", {"ran": False, "reason": "no-op-diverged"}))
    if not plan.ready("a") or plan.output_a is None or plan.output_b is None:
        return _with(result, not_isolated(plan),
                     Note("isolation", {"ran": False, "reason": "inputs", "op": plan.pair.name,
                                        "op_type": plan.op_type}))
    from tftrace.isolate.rerun import machine

    here = machine()
    outputs = {(inputs, attributes): _rerun(plan, inputs, attributes)
               for inputs, attributes in RUNS if plan.ready(inputs)}
    diagnosis = classify(plan, outputs, plan.pair.tolerance, here, (a.environment, b.environment))
    return _with(result, diagnosis, Note("isolation", {"ran": True, "op": plan.pair.name,
                                                       "op_type": plan.op_type, "runs": len(outputs),
                                                       **here}))


def _rerun(plan: IsolationPlan, inputs: str, attributes: str) -> np.ndarray | str:
    """One re-run's output, or TensorFlow's message when the op refuses the inputs or
    attributes (B's attributes may not fit A's inputs)."""
    import tensorflow as tf

    from tftrace.isolate.rerun import RerunError, run_op

    values = [i.value for i in (plan.inputs_a if inputs == "a" else plan.inputs_b)]
    chosen = plan.attributes_a if attributes == "a" else plan.attributes_b
    try:
        return run_op(plan.op_type, chosen, [v for v in values if v is not None], plan.output_index)
    except (RerunError, tf.errors.OpError, TypeError, ValueError) as exc:
        message = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {message[0] if message else ''}"


def _with(result: DiffResult, diagnosis: Diagnosis | None, note: Note) -> DiffResult:
    result = replace(result, note_facts=(*result.note_facts, note))
    first = result.first_divergence
    if diagnosis is None or first is None:
        return result
    explained = replace(first, diagnosis=(*first.diagnosis, diagnosis))
    pairs = tuple(explained if p is first else p for p in result.pairs)
    return replace(result, first_divergence=explained, pairs=pairs)


def _open(path: str | os.PathLike[str], opened: list[Trace]) -> Trace:
    trace = open_trace(path)
    opened.append(trace)
    return trace
