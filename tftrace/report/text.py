"""The text report of a diff: the first divergence, where to look, then a summary.

Reads only the :class:`~tftrace.compare.result.DiffResult`; colour is opt-in (the CLI
turns it on for a terminal). Every line is escaped (:mod:`~tftrace.report.escape`)
before the renderer's own colours are added, so nothing a trace holds reaches the
terminal as a control sequence.
"""

from __future__ import annotations

import re
from typing import Any

from tftrace.compare.align import RandomGap
from tftrace.compare.metrics import ElementPair, ValueComparison
from tftrace.compare.result import DiffResult, PairResult
from tftrace.report.words import (KIND_LABELS, ignored_caption, in_summary, measure_sentence,
                                  near_miss_sentences, state_sentence)
from tftrace.format.rules import random_attrs
from tftrace.report import verdict
from tftrace.report.diagnosis import diagnosis_lines
from tftrace.report.escape import safe_line

STREAM_ADVICE = {
    "variables": ("variable initial values: the runs start from different weights. Check "
                  "initializers, seeds and checkpoints, or give B A's initial values with "
                  "tftrace.replay."),
    "random": ("random values: the variables before it matched, but a random op produced "
               "different values. Check the seed and seed_mode of both runs, or give B A's "
               "random values with tftrace.replay."),
    "computation": ("computation: the recorded inputs before it (variable initial values and "
                    "random values) still matched, so the computation itself differs (ops, "
                    "TF version, device, dtype policy, training flags)."),
    "gradients": ("gradients: the forward values before them matched, but the gradients "
                  "differ (loss definition and scaling, regularization, stop_gradient, "
                  "training flags in the backward pass)."),
    "optimizer": ("optimizer: the gradients before it matched, but the optimizer used another "
                  "hyperparameter or keeps other state (defaults differ between TF1 and Keras: "
                  "epsilon, momentum; learning-rate schedules; slot initial values)."),
}
STREAM_ADVICE["optimizer"] = (
    "optimizer state: the weights and computation before it matched, but the optimizer's "
    "state (moments, accumulators, step count, learning rate) differs. Check the optimizer's "
    "hyperparameters (epsilon, betas, momentum) and its learning-rate schedule.")
STRUCTURE_PROBLEMS = ("missing", "extra", "shape", "dtype", "trainable", "op_type")
STRUCTURE_ADVICE = {
    "variables": ("variable structure: the runs do not create the same variables (names, "
                  "shapes, dtypes, trainability). Fix the model definition, or map names "
                  "with --rename, before comparing values."),
    "random": ("random op structure: the runs do not execute the same random ops in the "
               "same order (op type, shape). Look at the call sites: a dropout or "
               "initializer present in one run only."),
}
_COLOURS = {"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"


def render_text(result: DiffResult, *, show_all: bool = False, color: bool = False) -> str:
    """The human report, ending with a newline.

    Parameters
    ----------
    result : DiffResult
    show_all : bool
        List every pair with its status and errors (``--all``).
    color : bool
        Use ANSI colours (only for a terminal).
    """
    painted = Painter()
    paint = painted.mark
    lines: list[str] = [f"tftrace diff: {paint(verdict.title(result), verdict.colour(result))}"]
    for reason in verdict.reasons(result):  # why it is not a pass, before anything else
        lines.append(f"  {reason}")
    for label, info in (("A", result.a), ("B", result.b)):
        extras = [f"tensorflow {info.tensorflow}"] if info.tensorflow else []
        extras.append(f"{info.events} event" + ("" if info.events == 1 else "s"))
        if not info.complete:
            extras.append(paint(f"INCOMPLETE ({info.status})", "yellow"))
        lines.append(f"  {label}: {info.path} ({', '.join(extras)})")
        if info.replay is not None:
            lines.append(f"     {_replay_line(info.replay)}")
        for missed in info.not_captured[:MAX_LISTED_GAPS]:
            lines.append(f"     not captured: {verdict.gap_line(missed)}")
        if len(info.not_captured) > MAX_LISTED_GAPS:
            lines.append(f"     ... and {len(info.not_captured) - MAX_LISTED_GAPS} more not captured "
                         f"(tftrace show {info.path})")
    tol = result.tolerances
    setting = f"  tolerance: rtol={tol.default.rtol:g}, atol={tol.default.atol:g}"
    for rule in tol.rules:
        setting += f"; {rule.glob}: rtol={rule.tolerance.rtol:g}, atol={rule.tolerance.atol:g}"
    lines.append(setting)
    if result.rename:
        lines.append("  rename: " + ", ".join(_quote(str(r)) for r in result.rename))
    if len(result.kinds) < len(KIND_LABELS) or result.only_names:
        lines.append("  compared: " + ", ".join(KIND_LABELS[k] for k in result.kinds) + (
            "; only names matching " + ", ".join(repr(g) for g in result.only_names)
            if result.only_names else ""))
    for note in result.notes:
        lines.append(f"  note: {note}")

    first = result.first_divergence
    if first is not None:
        lines.append("")
        lines.extend(_first_divergence(first, result, paint))
    elif result.diagnosis:
        lines.append("")
        lines.append("Diagnosis (values close, not equal):")
        lines.extend(diagnosis_lines(result.diagnosis))
    for gap in result.random_gaps:
        lines.append("")
        lines.append("Random ops: " + gap_sentence(gap))
    for suggestion in result.suggested_renames:
        lines.append("")
        lines.append(f"Suggested rename: many variable names differ by one prefix; try "
                     f"--rename {_quote(str(suggestion))}")
    if result.near_miss is not None:
        lines.append("")
        lines.extend(near_miss_lines(result))
    lines.append("")
    lines.extend(_summary(result))
    if result.stopped_early:
        lines.append("  (stopped at the first divergence: later values not compared)")
    if show_all:
        lines.append("")
        lines.append("All pairs:")
        for pair in result.pairs:
            lines.append("  " + pair_line(pair))
            if pair.diagnosis and pair is not first:
                lines.extend(diagnosis_lines(pair.diagnosis, indent="      "))
        if result.counts is not None:
            lines.append(f"  ({not_listed_sentence(result)})")
    return "\n".join(painted.render(line, color) for line in lines) + "\n"


def not_listed_sentence(result: DiffResult) -> str:
    """How many pairs a result with partial ``pairs`` (counted, not listed) leaves out."""
    cap = result.counts.cap if result.counts is not None else 0
    return (f"{result.pairs_not_listed} of {result.pairs_not_listed + len(result.pairs)} pairs "
            f"not listed: equal pairs are counted, not listed, and non-equal pairs past the "
            f"first {cap}")


class Painter:
    """Colours applied after escaping. :meth:`mark` wraps a span in high-surrogate markers,
    which neither msgpack strings (strict UTF-8) nor file names (surrogateescape gives
    low surrogates only) contain; :meth:`render` escapes everything else."""

    _SPAN = re.compile("\ud800([0-9])(.*?)\udbff")

    def mark(self, text: str, colour: str) -> str:
        return f"\ud800{list(_COLOURS).index(colour)}{text}\udbff"

    def render(self, line: str, color: bool) -> str:
        out, pos = [], 0
        for match in self._SPAN.finditer(line):
            out.append(safe_line(line[pos:match.start()]))
            inner = safe_line(match.group(2))
            colour = list(_COLOURS.values())[int(match.group(1)) % len(_COLOURS)]
            out.append(f"{colour}{inner}{_RESET}" if color else inner)
            pos = match.end()
        out.append(safe_line(line[pos:]))
        return "".join(out)


def pair_line(pair: PairResult) -> str:
    """One line for a pair: status, kind, name, step, what was found."""
    name = repr(pair.name)
    if pair.name_b and pair.name_b != pair.name:
        name += f" (B: {pair.name_b!r})"
    where = f"step {pair.step}" + (f" #{pair.occurrence}" if pair.occurrence else "")
    if pair.kind == "random_op":
        index = pair.random_index_a if pair.random_index_a is not None else pair.random_index_b
        where += f", random op #{index}"
    return f"{pair.status:<8} {pair.kind} {name} ({where}): {pair.message}"


def gap_sentence(gap: RandomGap) -> str:
    """``B has an extra RandomUniform [128, 10] at #17 (file:line); the 40 ... shifted by one.``"""
    ops = ", ".join(f"{random_attrs(ev).op_type} {fmt_shape(ev.shape)}" for ev in gap.events)
    first = gap.events[0]
    site = f", {first.call_site}" if first.call_site else ""
    count = len(gap.events)
    if gap.side == "b":
        what = f"B has an extra {ops}" if count == 1 else f"B has {count} extra random ops ({ops})"
        where = f" at #{gap.index} (seq {first.seq}{site})"
    else:
        what = f"B is missing A's {ops}" if count == 1 else f"B is missing {count} of A's random ops ({ops})"
        where = f" at A's #{gap.index} (seq {first.seq}{site})"
    shift = {1: "one", 2: "two", 3: "three"}.get(abs(gap.offset), str(abs(gap.offset)))
    if gap.shifted == 0:
        after = "no random ops pair up after it"
    else:
        noun = "random op" if gap.shifted == 1 else "random ops"
        verb = "is" if gap.shifted == 1 else "are"
        after = f"the {gap.shifted} {noun} after it {verb} shifted by {shift}"
    return f"{what}{where}; {after}."


def _first_divergence(first: PairResult, result: DiffResult, paint: Any) -> list[str]:
    label = first.kind.replace("_", " ")
    title = f"First divergence: {label} {first.name!r}"
    if first.name_b and first.name_b != first.name:
        title += f" (B: {first.name_b!r})"
    title += f", step {first.step}"
    if first.occurrence:
        title += f", occurrence {first.occurrence}"
    lines = [paint(title, "bold")]
    seq_a = "-" if first.seq_a is None else f"#{first.seq_a}"
    seq_b = "-" if first.seq_b is None else f"#{first.seq_b}"
    lines.append(f"  sequence: A {seq_a}, B {seq_b}")
    state = state_sentence(first.to_dict())
    if state is not None:
        lines.append(f"  optimizer state: {state}")
    if first.kind == "random_op":
        lines.append(f"  random op: A {_side_op(first.random_index_a, first.op_type_a)}, "
                     f"B {_side_op(first.random_index_b, first.op_type_b)}")
    lines.append(f"  shape and dtype: A {_side_array(first.shape_a, first.dtype_a)}, "
                 f"B {_side_array(first.shape_b, first.dtype_b)}")
    if first.values is not None and first.problem in ("values", "nan_inf"):
        lines.extend(value_lines(first.values, indent="  "))
    else:
        lines.append(f"  problem: {first.message}")
    lines.extend(_localization(first))
    lines.append(f"  call sites: A {first.call_site_a or '-'}, B {first.call_site_b or '-'}")
    stream = result.broken_stream
    if stream is not None:
        advice = STREAM_ADVICE[stream]
        if first.problem in STRUCTURE_PROBLEMS and stream in STRUCTURE_ADVICE:
            advice = STRUCTURE_ADVICE[stream]
        elif stream == "computation" and not result.inputs_compared:
            advice = ("computation (but variables and random values were not compared, so the "
                      "inputs may already differ: drop --only to check them).")
        lines.append(f"  broke first: {advice}")
    if first.diagnosis:
        lines.append("  diagnosis:")
        lines.extend(diagnosis_lines(first.diagnosis, indent="    "))
    return lines


def _localization(first: PairResult) -> list[str]:
    """Where a captured divergence sits: layer, attributes, inputs, forward pass."""
    lines = []
    if first.layer is not None and first.kind == "op":
        lines.append(f"  layer: {first.layer}")
    for difference in first.attribute_differences:
        lines.append(f"  attribute {difference.attribute}: A {_attr(difference.a)}, "
                     f"B {_attr(difference.b)}")
    if first.inputs:
        described = [f"{i.name or '?'} ({_INPUT_WORDS.get(i.status, i.status)})" for i in first.inputs]
        lines.append("  inputs: " + ", ".join(described))
    if first.ops_only_a or first.ops_only_b:
        lines.append(f"  ops of layer {first.layer} run by one side only: "
                     f"A {', '.join(first.ops_only_a) or '-'}; B {', '.join(first.ops_only_b) or '-'}")
    if first.kind == "gradient":
        lines.append(f"  forward pass equal ({first.forward_compared} layer, op and endpoint values "
                     f"matched at step {first.step}); gradients of {first.name!r} differ at "
                     f"step {first.step}" if first.forward_compared else
                     f"  gradients of {first.name!r} differ at step {first.step}")
    if first.kind == "optimizer":
        lines.append(f"  optimizer hyperparameter {first.name!r} differs at step {first.step}"
                     + (f" (forward pass equal: {first.forward_compared} values matched)"
                        if first.forward_compared else ""))
    return lines


_INPUT_WORDS = {"equal": "equal", "close": "within tolerance", "diverged": "diverged",
                "not-recorded": "not recorded", "not-paired": "not paired",
                "skipped": "not compared"}


def _attr(value: object) -> str:
    return "-" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def value_lines(values: ValueComparison, indent: str = "") -> list[str]:
    """numpy.testing-style lines for a value comparison."""
    lines = [f"{indent}Mismatched elements: {values.mismatched} / {values.size} "
             f"({_percent(values.mismatched_percent)})"]
    if values.nan_mismatched or values.inf_mismatched:
        lines.append(f"{indent}NaN at different positions: {values.nan_mismatched}; "
                     f"Inf not matched: {values.inf_mismatched}")
    if values.max_abs_error is not None:
        lines.append(f"{indent}Max absolute difference: {_at(values.max_abs_error)}")
    if values.max_rel_error is not None:
        lines.append(f"{indent}Max relative difference: {_at(values.max_rel_error)}")
    if values.mismatches:
        lines.append(f"{indent}First mismatched elements:")
        for pair in values.mismatches:
            lines.append(f"{indent}  {fmt_index(pair.index)}: A {fmt_value(pair.a)}, B {fmt_value(pair.b)}")
    if values.max_ulp is not None:
        lines.append(f"{indent}Max ULP distance: {values.max_ulp}")
    measure = measure_sentence(values.to_dict())
    if measure is not None:
        lines.append(f"{indent}Whole-array measure: {measure}")
    return lines


def _at(pair: ElementPair) -> str:
    return (f"{fmt_value(pair.error)} at {fmt_index(pair.index)} "
            f"(A {fmt_value(pair.a)}, B {fmt_value(pair.b)})")


def _percent(p: float) -> str:
    return f"{p:.3g}%"


def _side_op(index: int | None, op_type: str | None) -> str:
    return "-" if index is None else f"#{index} {op_type}"


def _side_array(shape: tuple[int, ...] | None, dtype: str | None) -> str:
    return "-" if dtype is None and shape is None else f"{fmt_shape(shape)} {dtype}"


def _summary(result: DiffResult) -> list[str]:
    skipped = any(s.skipped for s in result.summary)
    gaps = any(s.gap for s in result.summary)
    ignored = any(s.ignored_a or s.ignored_b for s in result.summary)
    columns = ["compared", "equal", "close", "diverged", "missing", "extra"] + \
        (["skipped"] if skipped else []) + (["gap"] if gaps else []) + \
        (["ignored_a", "ignored_b"] if ignored else [])
    # Optimizer state has a row when either trace holds some (TF1 runs without an
    # optimizer, and every trace recorded before it was a kind, have none).
    rows = [s for s in result.summary if in_summary(s.to_dict())]
    width = max([12] + [len(KIND_LABELS[s.kind]) + 2 for s in rows])
    lines = ["Summary (close: within tolerance, not equal" + (
        "; " + ignored_caption(result.ignore) if ignored else "") + "):",
             "  " + f"{'kind':<{width}}" + "".join(f"{c:>10}" for c in columns)]
    for s in rows:
        lines.append("  " + f"{KIND_LABELS[s.kind]:<{width}}" + "".join(f"{getattr(s, c):>10}" for c in columns))
    return lines


def fmt_shape(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def fmt_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


def fmt_value(value: Any) -> str:
    """A scalar for the report: floats with 9 significant digits, strings quoted."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, bytes):
        return repr(value.decode("utf-8", errors="backslashreplace"))
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, complex):
        return f"({value.real:.9g}{value.imag:+.9g}j)"
    return f"{value:.9g}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


MAX_LISTED_GAPS = 10


def _replay_line(replay: Any) -> str:
    """How a trace recorded under replay got its inputs, in one line."""
    what = []
    if replay.get("random"):
        what.append(f"{replay.get('random_ops_replayed', '?')} random values")
    if replay.get("variables"):
        what.append(f"{replay.get('variables_replayed', '?')} initial variable values")
    line = f"replayed from {replay.get('source')}: " + (" and ".join(what) or "nothing")
    missing = replay.get("variables_not_replayed") or []
    if replay.get("variables") and missing:
        line += f"; {len(missing)} variable" + ("" if len(missing) == 1 else "s") + \
            " kept their own initializer"
    if replay.get("error"):
        line += "; replay stopped with an error"
    return line


def near_miss_lines(result: DiffResult) -> list[str]:
    """"Fails only by small amounts": the tolerance that would pass, against the floor."""
    assert result.near_miss is not None
    default = result.tolerances.default
    first, *rest = near_miss_sentences(result.near_miss.to_dict(), default.rtol, default.atol)
    return [first] + [f"  {line}" for line in rest]
