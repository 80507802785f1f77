"""The words of a diff that several renderers share: kind labels, each pair's sentence
(``PairResult.message``) and the notes (``DiffResult.notes``).

The comparison (compare/) gives codes and facts; every sentence is written here, so the
text, JSON, JUnit and HTML reports word things the same way and can change together.
"""

from __future__ import annotations

from typing import Any, Mapping

from tftrace.compare.metrics import ValueComparison
from tftrace.compare.result import Note, PairResult

#: Each kind's name in the plural (optimizer state is a mass noun), as reports say it.
KIND_LABELS = {"variable": "variables", "random_op": "random ops", "endpoint": "endpoints",
               "snapshot": "snapshots", "layer": "layers", "op": "ops", "gradient": "gradients",
               "optimizer": "optimizer hyperparameters", "optimizer_state": "optimizer state"}
#: The kernel settings machine notes name (compare/machines.py), in words.
KERNEL_SETTING_LABELS = {"onednn": "oneDNN optimizations", "intra_op_threads": "intra-op threads",
                         "inter_op_threads": "inter-op threads", "op_determinism": "op determinism",
                         "statistics": "in-graph statistics (min, max, mean: one-pass kernel or "
                                       "TensorFlow's reductions, equal up to the mean's last bits)"}
SKIP_REASONS = {"a-ended": "not compared: A is incomplete and ends before this event",
                "b-ended": "not compared: B is incomplete and ends before this event",
                "stopped": "not compared: stopped at the first divergence"}
#: A captured event (layer, op, gradient, optimizer) the other run has no counterpart for:
#: execution modes run other helper ops, optimizer families have other hyperparameters.
ONE_SIDED = {"a-only": "A", "b-only": "B"}
#: Optimizer state that is not compared (compare/compare_state.py), and why.
STATE_NOT_COMPARED = {
    "state-tf1-rmsprop-initial": "not compared: TF1 RMSProp starts its mean square at 1.0, Keras at 0",
    "state-keras-lr-not-recorded": "not compared: Keras keeps momentum as -learning_rate x TF1's "
                                   "accumulator, and no learning-rate variable was recorded (a "
                                   "schedule; with a schedule the two algorithms differ anyway)",
    "state-no-initial-power": "not compared: beta is read from the power's initial value, which "
                              "was not recorded",
    "state-different-roles": "not compared: the two states have different roles",
}
#: Optimizer families and roles, in the words of the report.
FAMILY_LABELS = {"tf1": "TF1", "tf_keras": "tf-keras", "keras3": "Keras 3"}
#: How two related optimizer states were compared (``PairResult.conversion``).
CONVERSIONS = {"beta_power": "compared as beta ** (step + 1) against the beta power",
               "negative_lr": "compared as TF1's accumulator (Keras' momentum / -learning_rate)"}


def kind_label(kind: str) -> str:
    """A kind's name for one event: ``variable``, ``random op``, ``optimizer state``."""
    label = KIND_LABELS[kind]
    return label[:-1] if label.endswith("s") else label


def pair_message(pair: PairResult) -> str:
    """One sentence for what the comparison of a pair found."""
    label = kind_label(pair.kind)
    status, problem, values = pair.status, pair.problem, pair.values
    if status == "skipped" and pair.skip_reason in ONE_SIDED:
        return f"{label} only in {ONE_SIDED[pair.skip_reason or '']}: not paired"
    if status == "skipped":
        return _skipped(pair)
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


def _skipped(pair: PairResult) -> str:
    reason = pair.skip_reason or ""
    if reason == "initializer-only-in-a":
        return (f"initializer draw only in A: B's variable {pair.replaced_variable!r} took A's "
                f"initial value (replay) without drawing it")
    if reason == "initializer-replaced":
        return (f"initializer draw replaced: B's variable {pair.replaced_variable!r} took A's "
                f"initial value (replay), so its own draw is not compared")
    if reason == "state-only-in-one-family":
        state = pair.state_a or pair.state_b
        other = "B" if pair.state_a is not None else "A"
        if state is not None:
            return (f"not compared: {state.role} of the "
                    f"{FAMILY_LABELS.get(state.family, state.family)} optimizer; {other}'s "
                    f"optimizer family keeps no variable for it")
    if reason in STATE_NOT_COMPARED:
        return STATE_NOT_COMPARED[reason]
    return SKIP_REASONS.get(reason, "not compared")


def _errors(head: str, values: ValueComparison) -> str:
    parts = [head]
    if values.max_abs_error is not None:
        parts.append(f"max abs error {values.max_abs_error.error:.6g}")
    if values.max_rel_error is not None:
        parts.append(f"max rel error {values.max_rel_error.error:.6g}")
    if values.max_ulp is not None:
        parts.append(f"max {values.max_ulp} ULP")
    if values.measure == "norm_relative" and values.norm_rel_error is not None:
        parts.append(f"||B - A|| / ||A|| {values.norm_rel_error:.3g} (limit {values.limit:.3g})")
    elif values.measure == "cosine" and values.cosine_similarity is not None:
        parts.append(f"1 - cos {1 - values.cosine_similarity:.3g} (limit {values.limit:.3g})")
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
    if note.code == "isolation":
        return isolation_sentence(facts)
    if note.code == "pair-diagnoses":
        one = facts["left"] == 1
        return (f"{facts['left']} diverging {'pair' if one else 'pairs'} after the first "
                f"{facts['limit']} diagnosed {'has' if one else 'have'} no diagnosis of "
                f"{'its' if one else 'their'} own (each diagnosis reads the pair's values again)")
    raise ValueError(f"expected a note code among ends-early, cpu-flags, cpu-model, kernel-setting, "
                     f"capture-levels, isolation, pair-diagnoses, "
                     f"got {note.code!r}")


def isolation_sentence(facts: Mapping[str, Any]) -> str:
    """What ``tftrace explain`` re-ran (the one step that imports TensorFlow), or why nothing."""
    if facts.get("ran"):
        return (f"isolation re-ran op {facts.get('op_type')} ({facts.get('op')!r}) {facts.get('runs')} "
                f"times eagerly with TensorFlow {facts.get('tensorflow')} on {facts.get('device')}: "
                f"the one step that imports TensorFlow")
    if facts.get("reason") == "inputs":
        return (f"isolation re-ran nothing: A's inputs of op {facts.get('op_type')} "
                f"({facts.get('op')!r}) are not all in the trace (TensorFlow not imported)")
    return "isolation re-ran nothing: no op event diverged (TensorFlow not imported)"


def _level(value: Any) -> str:
    if isinstance(value, list):  # op filters: the globs
        return ",".join(map(str, value)) or "none"
    return str(value)
#: Summary columns that say a kind took part; optimizer state shows a row only with one.
_PRESENT_COLUMNS = ("compared", "missing", "extra", "skipped", "gap", "ignored_a", "ignored_b")


def in_summary(row: Mapping[str, Any]) -> bool:
    """Whether a summary row (``KindSummary.to_dict()``) is shown: every kind always, but
    optimizer state only when either trace holds some (TF1 runs without an optimizer,
    and every trace recorded before it was compared, have none)."""
    return row.get("kind") != "optimizer_state" or any(row.get(c) for c in _PRESENT_COLUMNS)


def ignored_caption(ignore: list[str] | tuple[str, ...]) -> str:
    """What the ignored_a / ignored_b columns count."""
    return "ignored_a / ignored_b: events left out by --ignore " + ", ".join(repr(g) for g in ignore)


def near_miss_sentences(miss: Mapping[str, Any], rtol: float, atol: float) -> list[str]:
    """"Fails only by small amounts": the tolerance that would pass, against the noise
    floor (``near_miss`` of the JSON report; ``rtol`` / ``atol``: the defaults in use)."""
    options = []
    if miss["rtol"] > rtol:
        options.append(f"--rtol {miss['rtol']:.2g}")
    if miss["atol"] > atol:
        options.append(f"--atol {miss['atol']:.2g}")
    lines = [f"Fails only by small amounts: {miss['pairs']} pair(s) diverge, none by more than "
             f"0.1% of the reference value (worst: {miss['worst']!r} step {miss['worst_step']}); "
             f"{' '.join(options) or 'a slightly wider tolerance'} would pass them."]
    if miss.get("floor_ratio") is not None:
        lines.append(f"Against the calibrated noise floor: the worst is {miss['floor_ratio']:.3g}x "
                     f"its limit (||B - A|| / ||A||).")
    else:
        lines.append("No noise floor is known for these names: measure one with tftrace "
                     "calibrate before widening the tolerance (docs/diff.md).")
    return lines


def state_sentence(pair: Mapping[str, Any]) -> str | None:
    """What an optimizer-state pair's names mean (its JSON form), else None."""
    sides = []
    for label in ("a", "b"):
        state = pair.get(f"state_{label}")
        if isinstance(state, Mapping):
            family = FAMILY_LABELS.get(str(state.get("family")), str(state.get("family")))
            optimizer = f" {state['optimizer']}" if state.get("optimizer") else ""
            target = f" of {state['target']}" if state.get("target") else ""
            sides.append(f"{label.upper()} {family}{optimizer} {state.get('role')}{target}")
    if not sides:
        return None
    conversion = CONVERSIONS.get(str(pair.get("conversion")))
    return "; ".join(sides) + (f" ({conversion})" if conversion else "")


def measure_sentence(values: Mapping[str, Any]) -> str | None:
    """The whole-array measure a value comparison used (its JSON form), else None."""
    measure, limit = values.get("measure"), values.get("limit")
    if measure == "norm_relative" and values.get("norm_rel_error") is not None:
        return f"||B - A|| / ||A|| = {values['norm_rel_error']:.3g} (limit {limit:.3g})"
    if measure == "cosine" and values.get("cosine_similarity") is not None:
        return f"1 - cos(A, B) = {1 - values['cosine_similarity']:.3g} (limit {limit:.3g})"
    return None
