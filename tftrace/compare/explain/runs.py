"""Pitfalls recognised from how each run went, not from one value pair: random ops per
step, values that never change (content digests, no array read), variables created by a
later call, execution modes and environments.

The digest helpers live in format/repeats.py: the one-trace ``check`` uses them the same
way (lint/checks.py).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from tftrace.compare.explain.evidence import Evidence
from tftrace.compare.explain.findings import Diagnosis
from tftrace.format.events import RandomOpAttrs, SnapshotAttrs, VariableAttrs
from tftrace.format.repeats import cached_random_ops, frozen_digests, series_by_name, step_random_ops
from tftrace.format.schema import Event

LEARNING_RATE = re.compile(r"(^|[/_:])(learning_rate|lr)($|[/_:])", re.I)
MOVING_STATISTICS = re.compile(r"moving_mean|moving_variance|moving_var|running_mean|running_var", re.I)
DROPOUT = re.compile(r"dropout", re.I)
#: Environment entries whose difference changes numbers, as (label, path in the record).
ENVIRONMENT_KEYS = (
    ("tensorflow", ("tensorflow_version",)), ("keras", ("keras_version",)),
    ("numpy", ("numpy_version",)), ("devices", ("devices",)), ("cpu_flags", ("cpu", "flags")),
    ("onednn", ("kernels", "onednn")), ("op_determinism", ("kernels", "op_determinism")),
    ("intra_op_threads", ("kernels", "intra_op_threads")),
    ("inter_op_threads", ("kernels", "inter_op_threads")),
    ("grappler_options", ("kernels", "grappler_options")), ("jit", ("kernels", "jit")),
    ("dtype_policy", ("kernels", "dtype_policy")),
)


def _frozen_and_moving(evidence: Evidence, pattern: re.Pattern[str],
                       kinds: Sequence[str]) -> dict[str, list[str]]:
    """Names matching ``pattern`` frozen on each side, and moving on each side."""
    out: dict[str, list[str]] = {"frozen_a": [], "frozen_b": [], "moving_a": [], "moving_b": []}
    for side in ("a", "b"):
        for name, events in series_by_name(evidence.events(side), kinds, pattern).items():
            state = frozen_digests(events)
            if state is True:
                out[f"frozen_{side}"].append(name)
            elif state is False:
                out[f"moving_{side}"].append(name)
    return out


def stale_names(evidence: Evidence, pattern: re.Pattern[str], kinds: Sequence[str]
                ) -> dict[str, Any] | None:
    """One side's values of these names never change while the other side's do."""
    state = _frozen_and_moving(evidence, pattern, kinds)
    for side, other in (("b", "a"), ("a", "b")):
        if state[f"frozen_{side}"] and state[f"moving_{other}"] and not state[f"moving_{side}"]:
            return {"side": side, "names": sorted(state[f"frozen_{side}"]),
                    "moving_names": sorted(state[f"moving_{other}"])}
    return None


def _dropout(ev: Event) -> bool:
    attrs = ev.attrs
    texts = [ev.name] + ([attrs.op_name or "", attrs.name_scope or ""] if isinstance(attrs, RandomOpAttrs) else [])
    return any(DROPOUT.search(t) for t in texts)


def training_flag(evidence: Evidence) -> Diagnosis | None:
    """Dropout drawing random masks on one side only, or moving statistics updated on one
    side only: batch norm or dropout run in the other mode."""
    counts = {side: sum(_dropout(ev) for ev in step_random_ops(evidence.events(side))) for side in ("a", "b")}
    facts: dict[str, Any] = {}
    if (counts["a"] == 0) != (counts["b"] == 0):
        facts["dropout_random_ops_a"], facts["dropout_random_ops_b"] = counts["a"], counts["b"]
    stale = stale_names(evidence, MOVING_STATISTICS, ("snapshot",))
    if stale is not None:
        facts["frozen_side"], facts["frozen_statistics"] = stale["side"], stale["names"]
    return Diagnosis("training-flag", facts) if facts else None


def cached_random(evidence: Evidence) -> Diagnosis | None:
    """Random values that change every step on one side and not on the other: drawn once
    (outside the step, at tracing) or equal at every step."""
    steps = {side: sorted({ev.step for ev in step_random_ops(evidence.events(side))}) for side in ("a", "b")}
    facts: dict[str, Any] = {}
    for side, other in (("b", "a"), ("a", "b")):
        if len(steps[other]) >= 2 and 0 < len(steps[side]) < len(steps[other]) and \
                steps[side] == steps[other][:len(steps[side])]:
            facts.update({"side": side, "random_op_steps_a": steps["a"], "random_op_steps_b": steps["b"]})
            break
        repeated = cached_random_ops(evidence.events(side))
        if repeated and not cached_random_ops(evidence.events(other)) and len(steps[other]) >= 2:
            facts.update({"side": side, "repeated": [r["name"] for r in repeated]})
            break
    if not facts:
        return None
    all_dropout = all(_dropout(ev) for ev in step_random_ops(evidence.events("a")))
    return None if all_dropout and "repeated" not in facts else Diagnosis("cached-random", facts)


def constant_learning_rate(evidence: Evidence) -> list[Diagnosis]:
    """A learning rate (endpoint or snapshot named so) that never changes on one side while
    the other side's schedule moves it."""
    stale = stale_names(evidence, LEARNING_RATE, ("endpoint", "snapshot"))
    if stale is None:
        return []
    return [Diagnosis("stale", {"side": stale["side"], "names": stale["names"]}),
            Diagnosis("constant-learning-rate", stale)]


def new_variables_per_call(evidence: Evidence) -> Diagnosis | None:
    """Variables created by a later call of the model (``call_index`` > 0)."""
    facts: dict[str, Any] = {}
    for side in ("a", "b"):
        late = [(ev.name, ev.attrs.call_index) for ev in evidence.events(side)
                if isinstance(ev.attrs, VariableAttrs) and (ev.attrs.call_index or 0) > 0]
        if late:
            facts[f"names_{side}"] = sorted({name for name, _ in late})
            facts[f"calls_{side}"] = max(call for _, call in late if call is not None) + 1
    return Diagnosis("new-variables-per-call", facts) if facts else None


def execution_mode(events: Iterable[Event]) -> str | None:
    """How a run computed: ``graph`` when most variables and snapshots were graph ones."""
    modes = Counter(ev.attrs.mode for ev in events if isinstance(ev.attrs, (VariableAttrs, SnapshotAttrs)))
    modes.pop(None, None)
    return modes.most_common(1)[0][0] if modes else None


def grappler_arithmetic(evidence: Evidence, noise: Mapping[str, Any]) -> Diagnosis | None:
    """Round-off between a graph run and an eager one whose Grappler options leave the
    arithmetic optimizer on: it rewrites ``x / sqrt(y)`` and friends, which round differently."""
    mode_a, mode_b = execution_mode(evidence.events("a")), execution_mode(evidence.events("b"))
    if mode_a == mode_b or "graph" not in (mode_a, mode_b):
        return None
    graph_side = "a" if mode_a == "graph" else "b"
    options = _lookup(evidence.environment(graph_side), ("kernels", "grappler_options"))
    if isinstance(options, Mapping) and options.get("arithmetic_optimization") is False:
        return None
    return Diagnosis("grappler-arithmetic", {"graph_side": graph_side, "mode_a": mode_a, "mode_b": mode_b,
                                             "norm_rel": noise.get("norm_rel"),
                                             "max_ulp": noise.get("max_ulp")})


def _lookup(record: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _same_kerases(a: Any, b: Any) -> tuple[Any, Any]:
    """The versions of the Keras packages both runs used (``"tf_keras 2.15.1"``): a port
    from tf-keras or TF1 layers to Keras 3 changes the package on purpose; a version change
    of the same package is an environment difference."""
    def versions(text: Any) -> dict[str, str]:
        out = {}
        for part in str(text or "").split(", "):
            name, _, version = part.partition(" ")
            out[name] = version
        return out

    found_a, found_b = versions(a), versions(b)
    common = sorted(set(found_a) & set(found_b))
    return (", ".join(f"{n} {found_a[n]}" for n in common) or None,
            ", ".join(f"{n} {found_b[n]}" for n in common) or None)


def environment(evidence: Evidence) -> Diagnosis | None:
    """The settings that change numbers and differ between the two runs (the Keras package
    only when both runs used it, in another version)."""
    env_a, env_b = evidence.environment("a"), evidence.environment("b")
    differences = []
    for label, path in ENVIRONMENT_KEYS:
        value_a, value_b = _lookup(env_a, path), _lookup(env_b, path)
        if value_a is None and value_b is None:
            continue
        if label == "keras":
            value_a, value_b = _same_kerases(value_a, value_b)
        if value_a != value_b:
            differences.append([label, value_a, value_b])
    variables_a = _lookup(env_a, ("kernels", "variables")) or {}
    variables_b = _lookup(env_b, ("kernels", "variables")) or {}
    if isinstance(variables_a, Mapping) and isinstance(variables_b, Mapping):
        for name in sorted(set(variables_a) | set(variables_b)):
            if variables_a.get(name) != variables_b.get(name):
                differences.append([name, variables_a.get(name), variables_b.get(name)])
    return Diagnosis("environment", {"differences": differences}) if differences else None
