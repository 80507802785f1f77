"""The words of a diff that several renderers share: kind labels, each pair's sentence
(``PairResult.message``) and the notes (``DiffResult.notes``).

The comparison (compare/) gives codes and facts; every sentence is written here, so the
text, JSON, JUnit and HTML reports word things the same way and can change together.
"""

from __future__ import annotations

from typing import Any

from tftrace.compare.metrics import ValueComparison
from tftrace.compare.result import Note, PairResult

#: Each kind's name in the plural, as reports say it.
KIND_LABELS = {"variable": "variables", "random_op": "random ops", "endpoint": "endpoints",
               "snapshot": "snapshots", "layer": "layers", "op": "ops", "gradient": "gradients",
               "optimizer": "optimizer"}
#: The kernel settings machine notes name (compare/machines.py), in words.
KERNEL_SETTING_LABELS = {"onednn": "oneDNN optimizations", "intra_op_threads": "intra-op threads",
                         "inter_op_threads": "inter-op threads", "op_determinism": "op determinism"}
SKIP_REASONS = {"a-ended": "not compared: A is incomplete and ends before this event",
                "b-ended": "not compared: B is incomplete and ends before this event",
                "stopped": "not compared: stopped at the first divergence"}
#: A captured event (layer, op, gradient, optimizer) the other run has no counterpart for:
#: execution modes run other helper ops, optimizer families have other hyperparameters.
ONE_SIDED = {"a-only": "A", "b-only": "B"}


def pair_message(pair: PairResult) -> str:
    """One sentence for what the comparison of a pair found."""
    label = KIND_LABELS[pair.kind][:-1]
    status, problem, values = pair.status, pair.problem, pair.values
    if status == "skipped" and pair.skip_reason in ONE_SIDED:
        label = KIND_LABELS[pair.kind] if pair.kind == "optimizer" else label
        return f"{label} only in {ONE_SIDED[pair.skip_reason or '']}: not paired"
    if status == "skipped":
        return SKIP_REASONS.get(pair.skip_reason or "", "not compared")
    if status == "gap":
        if pair.seq_b is None:
            return f"{label} only in A; B did not capture it ({pair.gap_reason})"
        return f"{label} only in B; A did not capture it ({pair.gap_reason})"
    if status == "missing":
        return f"{label} only in A (missing from B)"
    if status == "extra":
        return f"{label} only in B (extra)"
    if problem == "op_type":
        return f"op type differs: {pair.op_type_a} vs {pair.op_type_b}"
    if problem == "shape":
        return f"shape differs: {_shape(pair.shape_a)} vs {_shape(pair.shape_b)}"
    if problem == "dtype":
        return f"dtype differs: {pair.dtype_a} vs {pair.dtype_b}"
    if problem == "trainable":
        _, trainable_a, trainable_b = pair.differences[0]
        return f"trainable differs: {trainable_a} vs {trainable_b}"
    if pair.compared_by == "statistics":
        if status == "diverged":
            return f"values not stored; statistics differ: {_statistics(pair.differences)}"
        return "values not stored; digests differ, statistics agree"
    if pair.compared_by == "digest":
        return "equal (same content digest)"
    if values is None:
        return "no value recorded"
    if status == "equal":
        return "equal"
    if status == "close":
        return _errors("within tolerance", values)
    head = f"{values.mismatched} / {values.size} elements mismatched ({values.mismatched_percent:.3g}%)"
    if problem == "nan_inf":
        head += f"; NaN at different positions: {values.nan_mismatched}, Inf: {values.inf_mismatched}"
    return _errors(head, values)


def _errors(head: str, values: ValueComparison) -> str:
    parts = [head]
    if values.max_abs_error is not None:
        parts.append(f"max abs error {values.max_abs_error.error:.6g}")
    if values.max_rel_error is not None:
        parts.append(f"max rel error {values.max_rel_error.error:.6g}")
    if values.max_ulp is not None:
        parts.append(f"max {values.max_ulp} ULP")
    return "; ".join(parts)


def _statistics(differences: tuple[tuple[str, Any, Any], ...]) -> str:
    out = []
    for name, a, b in differences:
        if name == "stats":
            return "statistics missing on one side"
        if name in ("min", "max", "mean") and a is not None and b is not None:
            out.append(f"{name} {a:.9g} vs {b:.9g}")
        else:
            out.append(f"{name} {a} vs {b}")
    return ", ".join(out)


def _shape(shape: tuple[int, ...] | None) -> str:
    return "None" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def note_sentence(note: Note) -> str:
    """One note of the report: a run that ended early, or how the two machines differ."""
    facts = note.facts
    if note.code == "ends-early":
        last = f"event #{facts['last_seq']}" if facts.get("last_seq") is not None else "its start (no events)"
        return f"{str(facts['side']).upper()} ends early: compared up to its last event, {last}"
    if note.code == "cpu-flags":
        return (f"A and B ran on CPUs with different instruction sets (only A: "
                f"{', '.join(facts['only_a']) or '-'}; only B: {', '.join(facts['only_b']) or '-'}): "
                f"TensorFlow picks other kernels, which round differently")
    if note.code == "cpu-model":
        return f"A and B ran on different CPU models ({facts['a']} vs {facts['b']})"
    if note.code == "kernel-setting":
        label = KERNEL_SETTING_LABELS.get(str(facts["setting"]), str(facts["setting"]))
        return f"{label} differ: A {facts['a']}, B {facts['b']}"
    if note.code == "capture-levels":
        differing = "; ".join(f"{stream} A {_level(a)}, B {_level(b)}" for stream, a, b in facts["streams"])
        return (f"the runs were captured at different levels ({differing}): events one side "
                f"did not capture are not paired")
    raise ValueError(f"expected a note code among ends-early, cpu-flags, cpu-model, kernel-setting, "
                     f"capture-levels, "
                     f"got {note.code!r}")


def _level(value: Any) -> str:
    if isinstance(value, list):  # op filters: the globs
        return ",".join(map(str, value)) or "none"
    return str(value)
