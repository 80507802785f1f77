"""The words of op isolation (``tftrace explain``): one sentence per isolation code."""

from __future__ import annotations

from typing import Any, Callable, Mapping

Facts = Mapping[str, Any]

#: What each value of ``reproduced`` says.
_GAVE = {"a": "A's output", "b": "B's output", "both": "A's and B's (they are that close)",
         "neither": "neither side's output", "error": "an error"}
#: Why an input of A has no value, and what to do.
_MISSING = {"stats": "recorded at statistics level only",
            "not-recorded": "not recorded (outside the op capture filter)",
            "constant": "a constant (op capture records none)",
            "feed": "a feed (op capture records none)",
            "unnamed": "produced by no recorded op (an eager variable read or a tensor made "
                       "outside recorded ops)",
            "variable-later-step": "a variable read after step 0 (no event holds its value then)",
            "too-large": "too large to read", "unreadable": "unreadable"}


def _at(f: Facts) -> str:
    at = f.get("at") or {}
    return f"op {f.get('op_type')} {at.get('name')!r} step {at.get('step')}"


def _where(f: Facts) -> str:
    return f" (at {_at(f)})"


def _runs(f: Facts) -> str:
    """What each re-run gave: ``re-run on A's inputs with A's attributes it gives A's output; ...``."""
    reproduced = f.get("reproduced") or {}
    parts: list[str] = []
    for key, label in (("a_inputs_a_attributes", "on A's inputs with A's attributes"),
                       ("a_inputs_b_attributes", "on A's inputs with B's attributes"),
                       ("b_inputs_b_attributes", "on B's inputs with B's attributes")):
        if key in reproduced:
            gave = _GAVE.get(reproduced[key], reproduced[key])
            parts.append(f"{label} gives {gave}" if not parts else f"{label}, {gave}")
    return f"{f.get('op_type')} re-run " + "; ".join(parts)


def _attributes(f: Facts) -> str:
    return ", ".join(f"{name}: A {a!r}, B {b!r}" for name, a, b in f.get("attributes", []))


def _attribute(f: Facts) -> str:
    return (f"the op's attributes are the cause ({_attributes(f)}){_where(f)}: {_runs(f)}. "
            "Fix: give B's op A's attributes")


def _inherited(f: Facts) -> str:
    return (f"the op passes on error it got: its inputs already differ{_where(f)}: {_runs(f)}. "
            "Look upstream: the difference entered before this op")


def _kernel(f: Facts) -> str:
    versions, devices = f.get("tensorflow") or [None, None], f.get("devices") or [None, None]
    machine = f.get("machine") or {}
    return (f"same inputs and attributes, different output: a kernel difference (TensorFlow A "
            f"{versions[0]}, B {versions[1]}; devices A {devices[0]}, B {devices[1]}){_where(f)}: "
            f"{_runs(f)}, here with TensorFlow {machine.get('tensorflow')} on {machine.get('device')}")


def _not_reproduced(f: Facts) -> str:
    text = f"the recorded outputs were not reproduced{_where(f)}: {_runs(f)}"
    errors = f.get("errors") or {}
    if errors:
        text += " (" + "; ".join(f"{k}: {v}" for k, v in errors.items()) + ")"
    return text + "; the op may depend on state the trace does not hold (a seed, a resource)"


def _not_isolated(f: Facts) -> str:
    missing = f.get("missing") or []
    parts = [f"input {index} {name!r}: {_MISSING.get(str(why), why)}" if index != "output" else
             f"its output: {_MISSING.get(str(why), why)}" for index, name, why in missing]
    scopes = _scopes(f)
    fix = ""
    if missing and all(why in ("stats", "not-recorded") for _, _, why in missing):
        globs = ", ".join(repr(s) for s in scopes)
        options = " ".join(f"--op-scope {s!r}" for s in scopes)
        fix = (f". Fix: record A (and B) with ops='full', op_scopes=[{globs}] "
               f"(tftrace record --ops full {options})")
    elif any(why in ("constant", "feed", "unnamed") for _, _, why in missing):
        fix = ": the op cannot be re-run from the trace"
    return f"{_at(f)} was not re-run: A's " + "; ".join(parts) + fix


def _scopes(f: Facts) -> list[str]:
    """The op capture filters that record the op and its inputs' producers in full."""
    found: dict[str, None] = {}
    names = [(f.get("at") or {}).get("name") or ""] + [str(n) for _, n, _ in f.get("missing") or []]
    for name in names:
        if ":" in name and not name.startswith(("variable:", "input:")):  # an op's output
            scope = name.rsplit(":", 1)[0].rpartition("/")[0]
            found[f"{scope}/*" if scope else name.rsplit(":", 1)[0]] = None
    return list(found)


ISOLATION_SENTENCES: dict[str, Callable[[Facts], str]] = {
    "attribute": _attribute, "inherited": _inherited, "kernel": _kernel,
    "not-reproduced": _not_reproduced, "not-isolated": _not_isolated,
}
