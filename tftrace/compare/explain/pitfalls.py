"""Pitfalls recognised from a value pair: what the relationship, the names and the
events' attributes say together.

Each recogniser gets the pair (``Related``: where, A's and B's values, the relationships
that hold) and returns a ``Diagnosis`` or None. The attribute checks come first: when op or
layer capture records ``epsilon``, ``data_format`` or ``rate``, a differing attribute is
the direct evidence; the value-based checks are what works without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from tftrace.compare.explain.evidence import Evidence
from tftrace.compare.explain.findings import Diagnosis
from tftrace.compare.result import PairResult

REGULARIZATION = re.compile(r"regulari|(^|[/_])l2($|[/_])|weight_decay|l2_loss", re.I)
LOSS = re.compile(r"loss", re.I)
NORMALIZATION = re.compile(r"batch_?norm|(^|[/_])bn\d*($|[/_])|normaliz|fused_batch", re.I)
DROPOUT = re.compile(r"dropout", re.I)
#: Epsilons the frameworks use by default (batch norm: slim/compat.v1 1e-3 (slim's 0.001),
#: Keras 1e-3, TF1 fused 1e-3 or 1.001e-5 in Keras applications; Adam 1e-8 TF1, 1e-7 Keras).
KNOWN_EPSILONS = (1e-3, 1e-5, 1.001e-5, 1e-8, 1e-7, 1e-4, 1e-6)
#: Attribute names whose difference is the pitfall itself.
ATTRIBUTE_PITFALLS = {"epsilon": "default-epsilon", "variance_epsilon": "default-epsilon",
                      "data_format": "data-format", "keep_prob": "keep-prob-vs-rate",
                      "rate": "keep-prob-vs-rate", "training": "training-flag",
                      "is_training": "training-flag"}


@dataclass(frozen=True)
class Related:
    """A value pair and the relationships that hold for it."""

    pair: PairResult
    a: np.ndarray | None
    b: np.ndarray | None
    found: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def at(self) -> dict[str, Any]:
        return where(self.pair)


def where(pair: PairResult) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": pair.kind, "name": pair.name, "step": pair.step}
    if pair.name_b and pair.name_b != pair.name:
        out["name_b"] = pair.name_b
    return out


def attribute_pitfalls(evidence: Evidence, pair: PairResult) -> list[Diagnosis]:
    """Attributes of the pair's two events that differ and are pitfalls by themselves."""
    event_a, event_b = evidence.event("a", pair.seq_a), evidence.event("b", pair.seq_b)
    if event_a is None or event_b is None:
        return []
    attrs_a, attrs_b = evidence.attributes("a", event_a), evidence.attributes("b", event_b)
    out = []
    for key, code in ATTRIBUTE_PITFALLS.items():
        if key in attrs_a and key in attrs_b and attrs_a[key] != attrs_b[key]:
            out.append(Diagnosis(code, {"at": where(pair), "attribute": key,
                                        "a": attrs_a[key], "b": attrs_b[key]}))
    return out


def l2_halving(related: Related) -> Diagnosis | None:
    """A regularization term (or a loss) exactly 2x or 0.5x: ``tf.nn.l2_loss`` halves the
    sum of squares (slim's ``l2_regularizer``), Keras' ``l2`` does not."""
    scale = related.found.get("scaled")
    if scale is None or not isinstance(scale.get("c"), float):
        return None
    c = scale["c"]
    name = related.pair.name
    if not (REGULARIZATION.search(name) or LOSS.search(name)):
        return None
    if abs(c - 2.0) <= 1e-4 * 2 or abs(c - 0.5) <= 1e-4 * 0.5:
        return Diagnosis("l2-halving", {"at": related.at, "c": c})
    return None


def missing_regularization(evidence: Evidence, related: Related) -> Diagnosis | None:
    """B's loss equals A's loss minus one of A's recorded scalars (its regularization)."""
    pair, a, b = related.pair, related.a, related.b
    if a is None or b is None or a.size != 1 or b.size != 1 or not LOSS.search(pair.name):
        return None
    loss_a, loss_b = float(a.ravel()[0]), float(b.ravel()[0])
    bound = 1e-6 * max(abs(loss_a), 1.0)
    for event, value in evidence.scalars("a", pair.step):
        if event.seq == pair.seq_a or value == 0:
            continue
        gap = loss_b - (loss_a - value)
        if abs(gap) <= bound:
            return Diagnosis("missing-regularization", {
                "at": related.at, "loss_a": loss_a, "loss_b": loss_b,
                "regularization_name": event.name, "regularization_a": value,
                "gap": float(f"{gap:.3g}")})
    return None


def keep_prob_vs_rate(related: Related) -> Diagnosis | None:
    """Dropout given the keep probability where the drop rate was meant: where both kept
    an element B/A = k / (1 - k) (each scales by 1 / its keep probability), and k is a
    round probability."""
    mask = related.found.get("masked")
    if mask is None or not mask.get("kept_ratio") or not mask.get("nested"):
        return None
    ratio = float(mask["kept_ratio"])
    keep_a = ratio / (1 + ratio)
    if abs(keep_a - round(keep_a * 20) / 20) > 0.01 or not 0 < keep_a < 1 or abs(keep_a - 0.5) < 0.01:
        return None
    keep_a = round(keep_a * 20) / 20
    # The zero fractions must agree: B keeps (1 - k) / k of what A kept.
    kept_a, kept_b = 1 - mask["zeros_a"], 1 - mask["zeros_b"]
    if kept_a <= 0 or abs(kept_b / kept_a - (1 - keep_a) / keep_a) > 0.35 * (1 - keep_a) / keep_a:
        return None
    return Diagnosis("keep-prob-vs-rate", {"at": related.at, "keep_prob_a": keep_a,
                                           "keep_prob_b": round(1 - keep_a, 4),
                                           "kept_ratio": ratio})


def default_epsilon(evidence: Evidence, related: Related) -> Diagnosis | None:
    """Batch norm with another epsilon: B = c_j * A per channel with every c_j close to 1 on
    one side of it; with a recorded input of the same shape (the batch statistics), the
    epsilon each side used is recovered."""
    scale = related.found.get("scaled")
    if scale is None or not isinstance(scale.get("c"), list):
        return None
    c = np.asarray(scale["c"], dtype=np.float64)
    if not (np.all(c < 1) or np.all(c > 1)) or np.any(np.abs(c - 1) > 0.05):
        return None
    implied = _implied_epsilons(evidence, related, c)
    if implied is None and not NORMALIZATION.search(related.pair.name):
        return None
    facts: dict[str, Any] = {"at": related.at, "c": scale["c"]}
    if implied is not None:
        facts.update(implied)
    return Diagnosis("default-epsilon", facts)


def _implied_epsilons(evidence: Evidence, related: Related, c: np.ndarray) -> dict[str, Any] | None:
    """For a batch norm in training mode (scale 1, offset 0 at the first step),
    c_j^2 = (var_j + eps_A) / (var_j + eps_B), var_j the batch variance of its input: try
    A's values of the same shape recorded just before at the same step as the input, and
    the known epsilons for eps_A; keep the one whose eps_B is one known epsilon for every
    channel."""
    pair = related.pair
    for ev in reversed([e for e in evidence.events("a") if e.kind == "endpoint" and e.step == pair.step
                        and pair.seq_a is not None and e.seq < pair.seq_a and e.shape == pair.shape_a]):
        values = evidence.values("a", ev)
        if values is None:
            continue
        variance = values.reshape(-1, values.shape[-1]).var(axis=0)
        for eps_a in KNOWN_EPSILONS:
            eps_b = (variance + eps_a) / c ** 2 - variance
            for known in KNOWN_EPSILONS:
                if known != eps_a and np.all(np.abs(eps_b - known) <= 0.05 * known):
                    return {"epsilon_a": eps_a, "epsilon_b": known, "input": ev.name}
        break
    return None


def data_format(related: Related) -> Diagnosis | None:
    """NHWC against NCHW: a permutation that is the layout change, or 4-D shapes that
    are each other's layout transpose."""
    perm = related.found.get("permuted")
    if perm is not None and perm.get("layout"):
        return Diagnosis("data-format", {"at": related.at, "layout": perm["layout"],
                                         "shape": perm.get("shape"), "a_axes": perm.get("a_axes")})
    shape_a, shape_b = related.pair.shape_a, related.pair.shape_b
    if shape_a and shape_b and len(shape_a) == 4 and len(shape_b) == 4 and shape_a != shape_b:
        if shape_b == (shape_a[0], shape_a[3], shape_a[1], shape_a[2]):
            return Diagnosis("data-format", {"at": related.at, "layout": "NHWC->NCHW",
                                             "shape_a": list(shape_a), "shape_b": list(shape_b)})
        if shape_b == (shape_a[0], shape_a[2], shape_a[3], shape_a[1]):
            return Diagnosis("data-format", {"at": related.at, "layout": "NCHW->NHWC",
                                             "shape_a": list(shape_a), "shape_b": list(shape_b)})
    return None


def value_pitfalls(evidence: Evidence, related: Related) -> list[Diagnosis]:
    """Every pitfall the value pair shows."""
    found = attribute_pitfalls(evidence, related.pair)
    for recognise in (l2_halving, keep_prob_vs_rate, data_format):
        diagnosis = recognise(related)
        if diagnosis is not None:
            found.append(diagnosis)
    for recognise_with in (missing_regularization, default_epsilon):
        diagnosis = recognise_with(evidence, related)
        if diagnosis is not None:
            found.append(diagnosis)
    return found
