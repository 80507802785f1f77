"""Op isolation without TensorFlow: which op to re-run, on which recorded values, and what
the re-runs say.

The first diverging ``op`` pair is re-run on A's recorded inputs with A's attributes and
with B's (and on B's inputs with B's attributes, when B recorded them): the re-run itself
needs TensorFlow and lives in ``tftrace/isolate/``; this module gathers the inputs from
the traces (bounded reads) and turns the re-runs' outputs into one diagnosis code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from tftrace.compare.explain.findings import Diagnosis
from tftrace.compare.result import DiffResult, PairResult
from tftrace.compare.tolerance import Tolerance
from tftrace.errors import TftraceError
from tftrace.format.events import OpAttrs
from tftrace.format.reader import Trace
from tftrace.format.schema import Event

#: Largest input or output read for a re-run (elements, per array).
MAX_ELEMENTS = 1 << 22
#: The re-runs: (which inputs, which attributes).
RUNS = (("a", "a"), ("a", "b"), ("b", "b"))


@dataclass(frozen=True)
class OpInput:
    """One input of the op on one side: where its value comes from, or why there is none
    (``stats``: recorded at statistics level only; ``not-recorded``: an op outside the
    capture filter; ``constant``, ``feed``: never recorded; ``unnamed``: an eager input no
    recorded op produced, such as a variable read; ``variable-later-step``: a variable read
    after step 0, whose value at that moment no event holds; ``too-large``; ``unreadable``)."""

    index: int
    name: str
    seq: int | None
    value: np.ndarray | None = None
    missing: str | None = None


@dataclass(frozen=True)
class IsolationPlan:
    """The op pair to re-run, its attributes and inputs on both sides, and both outputs."""

    pair: PairResult
    op_type: str
    output_index: int
    attributes_a: Mapping[str, Any]
    attributes_b: Mapping[str, Any]
    inputs_a: tuple[OpInput, ...]
    inputs_b: tuple[OpInput, ...]
    output_a: np.ndarray | None
    output_b: np.ndarray | None
    scope: str | None

    def ready(self, side: str) -> bool:
        """Whether every input of ``side`` has a value (a re-run on them is possible)."""
        inputs = self.inputs_a if side == "a" else self.inputs_b
        return all(i.value is not None for i in inputs)

    @property
    def at(self) -> dict[str, Any]:
        return {"kind": "op", "name": self.pair.name, "step": self.pair.step}


def isolation_pair(result: DiffResult) -> PairResult | None:
    """The first diverging op pair with an event on both sides: the first divergence when it
    is one, else the earliest diverged op pair."""
    first = result.first_divergence
    for pair in ([first] if first is not None else []) + list(result.pairs):
        if pair.kind == "op" and pair.status == "diverged" and \
                pair.seq_a is not None and pair.seq_b is not None:
            return pair
    return None


def plan_isolation(result: DiffResult, a: Trace, b: Trace) -> IsolationPlan | None:
    """What a re-run of the first diverging op needs, read from both traces (None: no op
    pair diverged)."""
    pair = isolation_pair(result)
    if pair is None:
        return None
    event_a, event_b = _event(a, pair.seq_a), _event(b, pair.seq_b)
    if event_a is None or event_b is None:
        return None
    attrs_a, attrs_b = _op_attrs(event_a), _op_attrs(event_b)
    return IsolationPlan(
        pair=pair, op_type=attrs_a.op_type or "", output_index=attrs_a.output_index or 0,
        attributes_a=dict(attrs_a.op_attrs or {}), attributes_b=dict(attrs_b.op_attrs or {}),
        inputs_a=_inputs(a, attrs_a, pair.step), inputs_b=_inputs(b, attrs_b, pair.step),
        output_a=_value(a, event_a)[0], output_b=_value(b, event_b)[0],
        scope=attrs_a.name_scope or attrs_a.layer)


def not_isolated(plan: IsolationPlan) -> Diagnosis:
    """A's inputs are not all in the trace: which, why, and how to record them."""
    missing = [[i.index, i.name or "(unnamed)", i.missing] for i in plan.inputs_a if i.value is None]
    if plan.output_a is None or plan.output_b is None:
        missing.append(["output", plan.pair.name, "stats"])
    return Diagnosis("not-isolated", {"at": plan.at, "op_type": plan.op_type,
                                      "missing": missing, "scope": plan.scope})


def classify(plan: IsolationPlan, outputs: Mapping[tuple[str, str], np.ndarray | str],
             tolerance: Tolerance | None, machine: Mapping[str, Any],
             environments: tuple[Mapping[str, Any], Mapping[str, Any]]) -> Diagnosis:
    """The diagnosis from the re-runs' outputs: ``(inputs side, attributes side) -> output``
    (a string: the re-run failed, with TensorFlow's message)."""
    tol = tolerance or Tolerance()
    reproduced = {f"{i}_inputs_{t}_attributes": _which(out, plan, tol) for (i, t), out in outputs.items()}
    differing = sorted(k for k in set(plan.attributes_a) | set(plan.attributes_b)
                       if plan.attributes_a.get(k) != plan.attributes_b.get(k))
    inputs_differ = _inputs_differ(plan)
    facts: dict[str, Any] = {"at": plan.at, "op_type": plan.op_type, "reproduced": reproduced,
                             "attributes": [[k, plan.attributes_a.get(k), plan.attributes_b.get(k)]
                                            for k in differing],
                             "inputs_differ": inputs_differ, "machine": dict(machine),
                             "inputs_a": [[i.index, i.name, i.seq] for i in plan.inputs_a]}
    errors = {k: v for k, v in outputs.items() if isinstance(v, str)}
    if errors:
        facts["errors"] = {f"{i}_inputs_{t}_attributes": v for (i, t), v in errors.items()}
    own_a = reproduced.get("a_inputs_a_attributes")
    with_b = reproduced.get("a_inputs_b_attributes")
    b_own = reproduced.get("b_inputs_b_attributes")
    if differing and own_a == "a" and with_b == "b":
        return Diagnosis("attribute", facts)
    if inputs_differ and own_a == "a" and (b_own == "b" or (not differing and with_b == "a")):
        return Diagnosis("inherited", facts)
    if not differing and not inputs_differ and own_a in ("a", "b"):
        env_a, env_b = environments
        facts["tensorflow"] = [_lookup(env_a, "tensorflow_version"), _lookup(env_b, "tensorflow_version")]
        facts["devices"] = [_lookup(env_a, "devices"), _lookup(env_b, "devices")]
        return Diagnosis("kernel", facts)
    return Diagnosis("not-reproduced", facts)


def _which(output: np.ndarray | str, plan: IsolationPlan, tol: Tolerance) -> str:
    """``a`` / ``b``: the re-run gives that side's recorded output (within the diff's
    tolerance; ``both`` when the two are that close); ``neither``; ``error``."""
    if isinstance(output, str):
        return "error"
    near_a = _close(output, plan.output_a, tol)
    near_b = _close(output, plan.output_b, tol)
    return "both" if near_a and near_b else "a" if near_a else "b" if near_b else "neither"


def _close(output: np.ndarray, recorded: np.ndarray | None, tol: Tolerance) -> bool:
    if recorded is None or output.shape != recorded.shape:
        return False
    got = np.asarray(output, dtype=np.float64)
    return bool(np.allclose(got, recorded, rtol=tol.rtol, atol=tol.atol, equal_nan=True))


def _inputs_differ(plan: IsolationPlan) -> bool | None:
    """Whether A's and B's inputs differ (values compared exactly; None: not known)."""
    statuses = {s.status for s in plan.pair.inputs}
    if statuses & {"diverged", "close", "missing", "extra"}:
        return True
    if len(plan.inputs_a) != len(plan.inputs_b):
        return True
    if not (plan.ready("a") and plan.ready("b")):
        return None if statuses - {"equal"} else False
    return any(x.value.shape != y.value.shape or not np.array_equal(x.value, y.value, equal_nan=True)
               for x, y in zip(plan.inputs_a, plan.inputs_b)
               if x.value is not None and y.value is not None)


def _inputs(trace: Trace, attrs: OpAttrs, step: int) -> tuple[OpInput, ...]:
    names = attrs.input_names or ()
    out = []
    for index, seq in enumerate(attrs.inputs or ()):
        name = names[index] if index < len(names) else ""
        if seq is not None and seq >= 0:
            value, missing = _value(trace, _event(trace, seq))
            out.append(OpInput(index, name, seq, value, missing))
        elif name.startswith("variable:"):
            out.append(_variable(trace, index, name, step))
        else:
            out.append(OpInput(index, name, None, None, _unrecorded(name)))
    return tuple(out)


def _unrecorded(name: str) -> str:
    """Why an input has no event: a constant or a feed (op capture records neither), an
    eager input with no recorded producer (a variable read, a tensor made outside
    recorded ops), or an op the capture filter left out."""
    if name == "const":
        return "constant"
    if name.startswith("input:"):
        return "feed"
    return "unnamed" if not name else "not-recorded"


def _variable(trace: Trace, index: int, name: str, step: int) -> OpInput:
    """A variable input: its initial value, which is the value it is read with at step 0
    (later steps read updated values that no event holds at that moment)."""
    if step != 0:
        return OpInput(index, name, None, None, "variable-later-step")
    want = name.removeprefix("variable:")
    for event in trace.events:
        if event.kind == "variable" and event.name.removesuffix(":0") == want:
            value, missing = _value(trace, event)
            return OpInput(index, name, event.seq, value, missing)
    return OpInput(index, name, None, None, "not-recorded")


def _value(trace: Trace, event: Event | None) -> tuple[np.ndarray | None, str | None]:
    """The event's values in their recorded dtype, or why not."""
    if event is None:
        return None, "not-recorded"
    if not event.stored:
        return None, "stats"
    if int(np.prod(event.shape or ())) > MAX_ELEMENTS:
        return None, "too-large"
    try:
        return np.asarray(trace.array(event)), None
    except TftraceError:
        return None, "unreadable"


def _event(trace: Trace, seq: int | None) -> Event | None:
    if seq is None:
        return None
    events = trace.events
    if 0 <= seq < len(events) and events[seq].seq == seq:
        return events[seq]
    return next((ev for ev in events if ev.seq == seq), None)


def _op_attrs(event: Event) -> OpAttrs:
    attrs = event.attrs
    return attrs if isinstance(attrs, OpAttrs) else OpAttrs()


def _lookup(env: Mapping[str, Any], key: str) -> Any:
    if key in env:
        return env[key]
    versions = env.get("versions")
    if isinstance(versions, Mapping) and key.endswith("_version"):
        return versions.get(key.removesuffix("_version"))
    return None
