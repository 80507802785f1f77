"""The words of a diagnosis (compare/explain/): one sentence per code, with the fix for
each pitfall. Every renderer (text, JSON, JUnit, HTML) takes its sentences from here."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from tftrace.compare.explain.findings import Diagnosis
from tftrace.report.escape import json_safe
from tftrace.report.isolation import ISOLATION_SENTENCES

Facts = Mapping[str, Any]


def _at(facts: Facts) -> str:
    at = facts.get("at")
    if not isinstance(at, Mapping):
        return ""
    where = f"{str(at.get('kind', '')).replace('_', ' ')} {at.get('name')!r}"
    if at.get("step") is not None:
        where += f" step {at['step']}"
    return f" (at {where})"


def _number(value: Any) -> str:
    return f"{value:.7g}" if isinstance(value, float) else str(value)


def _side(side: Any) -> str:
    return str(side).upper()


def _scaled(f: Facts) -> str:
    c = f.get("c")
    if isinstance(c, list):
        return (f"B = c * A per channel (axis {f.get('axis')}), c = [{', '.join(map(_number, c))}]"
                f"{_at(f)}: a per-channel normalization constant differs")
    return f"B = {_number(c)} * A{_at(f)}"


def _offset(f: Facts) -> str:
    c = f.get("c")
    sign, size = ("-", -c) if isinstance(c, float) and c < 0 else ("+", c)
    return f"B = A {sign} {_number(size)}{_at(f)}"


def _permuted(f: Facts) -> str:
    text = f"the same values in another order ({f.get('same_values')}){_at(f)}"
    if f.get("a_axes") is not None:
        text += (f"; A's values are {f.get('shape')} read in axis order {f.get('a_axes')}"
                 + (f" ({f['layout']})" if f.get("layout") else ""))
    return text


def _lagged(f: Facts) -> str:
    lag = f.get("lag")
    text = (f"B at step k equals A at step k-1 (steps {f.get('steps')}){_at(f)}: B reads the value "
            "before the update A has made" if lag == 1 else
            f"B at step k equals A at step k+1 (steps {f.get('steps')}){_at(f)}: B reads the value "
            "after an update A makes later")
    if f.get("first_step_equals_initial_value"):
        text += "; at the first step B equals A's initial value"
    return text


def _stale(f: Facts) -> str:
    names = f.get("names")
    what = f"{', '.join(map(repr, names))}" if names else "the values"
    steps = f" over steps {f['steps']}" if f.get("steps") else ""
    return f"{_side(f.get('side'))} never changes {what}{steps}{_at(f)} while the other run does"


def _lower_precision(f: Facts) -> str:
    text = (f"{_side(f.get('narrow_side'))} holds lower-precision values ({f.get('dtype_a')} vs "
            f"{f.get('dtype_b')}){_at(f)}; norm-relative difference {_number(f.get('norm_rel'))}")
    if f.get("equal_to_rounded") is not None:
        text += f", {100 * float(f['equal_to_rounded']):.3g}% equal to the wider side rounded"
    return text + ": a mixed-precision dtype policy"


def _masked(f: Facts) -> str:
    text = (f"different fractions of zeros: A {100 * float(f['zeros_a']):.3g}%, "
            f"B {100 * float(f['zeros_b']):.3g}%{_at(f)}")
    if f.get("kept_ratio") is not None:
        text += f"; where both are non-zero B/A = {_number(f['kept_ratio'])}"
    return text


def _noise(f: Facts) -> str:
    return (f"round-off: norm-relative difference {_number(f.get('norm_rel'))}, max abs "
            f"{_number(f.get('max_abs'))}, at most {f.get('max_ulp')} ULP, "
            f"{100 * float(f.get('differing', 0)):.3g}% of the elements differ{_at(f)}")


def _training_flag(f: Facts) -> str:
    parts = []
    if "dropout_random_ops_a" in f:
        parts.append(f"dropout drew {f['dropout_random_ops_a']} random masks in A and "
                     f"{f['dropout_random_ops_b']} in B")
    if "frozen_statistics" in f:
        parts.append(f"{_side(f['frozen_side'])} never updates {', '.join(map(repr, f['frozen_statistics']))}")
    if "attribute" in f:
        parts.append(f"{f['attribute']} is {f.get('a')} in A and {f.get('b')} in B{_at(f)}")
    return ("batch norm or dropout runs in the other mode (" + "; ".join(parts) + "). Fix: pass "
            "training=True to the layer call in training steps (Keras passes training=None, "
            "which slim's is_training reads as False)")


def _cached_random(f: Facts) -> str:
    if "repeated" in f:
        what = f"{_side(f['side'])}'s random ops {', '.join(map(repr, f['repeated']))} give the same values every step"
    else:
        what = (f"random ops ran at steps {f.get('random_op_steps_a')} in A and "
                f"{f.get('random_op_steps_b')} in B")
    return (f"{what}: random values drawn once (outside the tf.function, or at tracing) or with a "
            "fixed stateless seed. Fix: draw them inside the step with a stateful op or a "
            "tf.random.Generator")


def _constant_lr(f: Facts) -> str:
    names = f.get("names") or [f.get("at", {}).get("name")]
    return (f"{_side(f.get('side'))}'s learning rate {', '.join(map(repr, names))} never changes while "
            "the other run's schedule moves it. Fix: pass the schedule object to the optimizer, not "
            "its value at step 0")


def _new_variables(f: Facts) -> str:
    parts = [f"{_side(side)} creates {', '.join(map(repr, f[f'names_{side}']))} again on later calls "
             f"({f[f'calls_{side}']} calls)" for side in ("a", "b") if f"names_{side}" in f]
    return ("; ".join(parts) + ". Fix: create variables once (in build or __init__) and reuse "
            "them; see `tftrace check`")


def _missing_regularization(f: Facts) -> str:
    return (f"B's loss {_number(f.get('loss_b'))} = A's loss {_number(f.get('loss_a'))} - A's "
            f"{f.get('regularization_name')!r} {_number(f.get('regularization_a'))}{_at(f)}: B leaves "
            "the regularization losses out. Fix: add the layers' losses (model.losses) to the loss")


def _keep_prob(f: Facts) -> str:
    if "attribute" in f:
        return (f"dropout's {f['attribute']} is {f.get('a')} in A and {f.get('b')} in B{_at(f)}. Fix: "
                "Keras' Dropout takes the rate to drop, slim and tf.nn.dropout v1 the probability to keep")
    return (f"A keeps {_number(f.get('keep_prob_a'))} of the elements, B {_number(f.get('keep_prob_b'))}"
            f"{_at(f)}: a keep probability passed as a drop rate. Fix: Dropout(rate=1 - keep_prob)")


def _epsilon(f: Facts) -> str:
    if "attribute" in f:
        detail = f"{f['attribute']} {f.get('a')} in A, {f.get('b')} in B"
    elif "epsilon_a" in f:
        detail = f"epsilon {_number(f['epsilon_a'])} in A, {_number(f['epsilon_b'])} in B (from the batch variance of {f.get('input')!r})"
    else:
        detail = f"per-channel scale {f.get('c')}"
    return (f"another epsilon{_at(f)}: {detail}. Fix: pass the old code's epsilon explicitly "
            "(batch norm: slim/TF1 and Keras defaults differ by model; Adam: 1e-8 in TF1, 1e-7 in Keras)")


def _l2(f: Facts) -> str:
    return (f"the regularization is {_number(f.get('c'))}x{_at(f)}: tf.nn.l2_loss (slim's "
            "l2_regularizer) is sum(w**2) / 2, Keras' L2 is sum(w**2). Fix: L2(scale / 2)")


def _data_format(f: Facts) -> str:
    if "attribute" in f:
        return f"data_format is {f.get('a')} in A and {f.get('b')} in B{_at(f)}"
    return (f"the layout differs ({f.get('layout')}){_at(f)}: NHWC vs NCHW, often a flatten after a "
            "conv. Fix: transpose to the old layout before flattening, or use the same data_format")


def _grappler(f: Facts) -> str:
    return (f"last-bit drift between the graph run ({_side(f.get('graph_side'))}) and the eager one: "
            "Grappler's arithmetic optimizer rewrites the graph (x / sqrt(y) into x * rsqrt(y), ...). "
            "Check: run the graph with arithmetic_optimization off; accept it with a tolerance")


def _environment(f: Facts) -> str:
    parts = [f"{label}: A {a!r}, B {b!r}" for label, a, b in f.get("differences", [])]
    return ("the runs' settings differ (" + "; ".join(parts) + "): other kernels and defaults, "
            "which round differently; record both runs with the same settings to rule them out")


def _not_decided(f: Facts) -> str:
    return (f"not decided{_at(f)}: the values could not be read ({', '.join(f.get('reasons', []))}), "
            f"so {', '.join(f.get('codes', []))} were not tested")


SENTENCES: dict[str, Callable[[Facts], str]] = {
    "scaled": _scaled,
    "offset": _offset,
    "sign-flip": lambda f: f"B = -A{_at(f)}",
    "permuted": _permuted, "lagged": _lagged, "stale": _stale, "lower-precision": _lower_precision,
    "masked": _masked, "noise": _noise, "training-flag": _training_flag,
    "cached-random": _cached_random, "constant-learning-rate": _constant_lr,
    "new-variables-per-call": _new_variables, "missing-regularization": _missing_regularization,
    "keep-prob-vs-rate": _keep_prob, "default-epsilon": _epsilon, "l2-halving": _l2,
    "data-format": _data_format, "grappler-arithmetic": _grappler, "environment": _environment,
    "not-decided": _not_decided,
    **ISOLATION_SENTENCES,
}


def diagnosis_message(diagnosis: Diagnosis) -> str:
    """One sentence for a diagnosis: what was found and, for a pitfall, the fix."""
    return SENTENCES[diagnosis.code](diagnosis.evidence)


def diagnosis_document(diagnosis: Diagnosis) -> dict[str, Any]:
    """``{code, message, evidence}`` as the JSON report holds it."""
    return {"code": diagnosis.code, "message": diagnosis_message(diagnosis),
            "evidence": json_safe(dict(diagnosis.evidence))}


def diagnosis_lines(diagnoses: tuple[Diagnosis, ...], indent: str = "  ") -> list[str]:
    """The text report's lines: ``code: sentence``."""
    return [f"{indent}{d.code}: {diagnosis_message(d)}" for d in diagnoses]
