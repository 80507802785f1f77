"""The naming and ordering rules that recording, replay and comparison share.

* Names: a variable's name without TensorFlow's ``:0`` suffix (:func:`normalize_name`),
  and rename rules applied to the second run's scope paths (:class:`RenameRule`).
* Random ops: DESIGN's random-op order (:func:`random_order`) and the distribution
  families whose ops can stand for each other (:func:`random_family`).

They live beside the event vocabulary (format/events.py) because both sides of the
house read them: replay (recording/) pairs B's ops with A's by the same rules that
diff (compare/) pairs the two traces by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from tftrace.errors import UsageError
from tftrace.format.events import RULES, EventKind, RandomOpAttrs
from tftrace.format.schema import Event

#: Kinds whose names are scope paths: the ``:0`` rule and rename rules apply to them.
RENAMED_KINDS = tuple(kind for kind, rules in RULES.items() if rules.renamed)


def normalize_name(name: str) -> str:
    """A variable name without TensorFlow's ``:0`` output suffix."""
    return name[:-2] if name.endswith(":0") else name


@dataclass(frozen=True)
class RenameRule:
    """``re.sub(pattern, replacement, name)`` applied to the second trace's names."""

    pattern: str
    replacement: str

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise UsageError(f"expected a valid regular expression in rename rule, got "
                             f"{self.pattern!r}: {exc}") from None

    def apply(self, name: str) -> str:
        try:
            return re.sub(self.pattern, self.replacement, name)
        except (re.error, IndexError) as exc:  # a bad group reference shows up only here
            raise UsageError(f"rename rule {self} fails on {name!r}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.pattern}={self.replacement}"

    def to_dict(self) -> dict[str, str]:
        return {"pattern": self.pattern, "replacement": self.replacement}


def parse_rename_rule(rule: str | tuple[str, str] | RenameRule) -> RenameRule:
    """A rule from ``"REGEX=REPL"`` (split at the last ``=``), a pair, or a rule."""
    if isinstance(rule, RenameRule):
        return rule
    if isinstance(rule, tuple):
        if len(rule) != 2 or not all(isinstance(x, str) for x in rule):
            raise UsageError(f"expected a (regex, replacement) pair of strings, got {rule!r}")
        return RenameRule(*rule)
    pattern, sep, replacement = str(rule).rpartition("=")
    if not sep or not pattern:
        raise UsageError(f"expected --rename REGEX=REPL (e.g. '^model/='), got {rule!r}")
    return RenameRule(pattern, replacement)


def renamed(name: str, rules: Iterable[RenameRule]) -> str:
    """A scope-path name as the other trace names it: ``:0`` dropped, then each rule."""
    name = normalize_name(name)
    for rule in rules:
        name = rule.apply(name)
    return name


def random_attrs(event: Event) -> RandomOpAttrs:
    """The typed attrs of a random op event (an empty set for any other kind)."""
    attrs = event.attrs
    return attrs if isinstance(attrs, RandomOpAttrs) else _NO_RANDOM_ATTRS


_NO_RANDOM_ATTRS = RandomOpAttrs(present=())


def is_initializer(event: Event) -> bool:
    """A random op drawn by a variable's initializer (its ``initializer`` attr)."""
    return random_attrs(event).initializer is True


def marks_initializers(events: Iterable[Event]) -> bool:
    """True when every random op says whether it is an initializer's draw (traces
    recorded before tftrace marked them do not: they are ordered by seed alone)."""
    return all(random_attrs(e).initializer is not None for e in events
               if e.kind is EventKind.RANDOM_OP)


def random_order(event: Event, split: bool = True) -> tuple[int, int, float, int]:
    """DESIGN's random-op order: step by step; within a step, the draws of variable
    initializers first, then the other random ops, each by when the op got its seed
    (``seed_index``: creation order in a graph, execution order eagerly); then seq.

    A graph's dropout is recorded when the Session runs it, after the initializers,
    but was created between them; ordering by seed index lines it up with the same
    net called eagerly. Initializers come first because frameworks create variables
    at different moments (a TF1 graph as its layers are built, Keras 3 all at once
    before computing): their draws would otherwise interleave differently with
    dropout, although each stream on its own is in the same order. ``split=False``
    (traces that do not mark initializers) orders by seed alone.
    """
    index = random_attrs(event).seed_index
    stream = 0 if split and is_initializer(event) else 1
    if index is not None:
        return (event.step, stream, float(index), event.seq)
    return (event.step, stream, float("inf"), event.seq)


#: Random op kinds that draw from the same distribution, whatever the kernel: a TF1
#: ``RandomUniform`` and the ``StatelessRandomUniformV2`` of a Keras 3 dropout both
#: give uniform [0, 1) values, so one can stand for the other.
RANDOM_FAMILIES = {
    "uniform": ("RandomUniform", "StatelessRandomUniform", "StatelessRandomUniformV2",
                "StatefulUniform"),
    "uniform_int": ("RandomUniformInt", "StatelessRandomUniformInt",
                    "StatelessRandomUniformIntV2", "StatefulUniformInt"),
    "uniform_full_int": ("StatelessRandomUniformFullInt", "StatelessRandomUniformFullIntV2",
                         "StatefulUniformFullInt"),
    "normal": ("RandomStandardNormal", "StatelessRandomNormal", "StatelessRandomNormalV2",
               "StatefulStandardNormal", "StatefulStandardNormalV2"),
    "truncated_normal": ("TruncatedNormal", "StatelessTruncatedNormal",
                         "StatelessTruncatedNormalV2", "StatefulTruncatedNormal"),
}
_FAMILY_OF = {op: family for family, ops in RANDOM_FAMILIES.items() for op in ops}


def random_family(op_type: str | None) -> str | None:
    """The distribution an op type draws from (its own name when it has no family)."""
    return _FAMILY_OF.get(op_type, op_type) if op_type is not None else None


def random_token(event: Event) -> tuple[Any, ...]:
    """What must agree between two random ops for them to be the same op: the
    distribution they draw from (see :data:`RANDOM_FAMILIES`), shape and dtype."""
    return (random_family(random_attrs(event).op_type), event.shape, event.dtype)


# -- tf.distribute: one trace per worker, values per replica (recording/distributed.py) ---

#: Between a value's name and its replica's index: ``grads/w@replica-1``.
REPLICA_SEPARATOR = "@replica-"
#: In a trace path, replaced by the worker's index: ``run-{worker}.zarr``.
WORKER_FIELD = "{worker}"
_REPLICA_NAME = re.compile(r"^(?P<name>.+)" + re.escape(REPLICA_SEPARATOR) + r"(?P<replica>\d+)$")
_TRACE_SUFFIXES = (".zarr.zip", ".zarr")


def split_replica(name: str) -> tuple[str, int | None]:
    """``grads/w@replica-1`` -> ``("grads/w", 1)``; a name without a replica -> ``(name, None)``."""
    found = _REPLICA_NAME.match(name)
    if found is None:
        return name, None
    return found["name"], int(found["replica"])


def worker_trace_path(path: str, worker: int) -> str:
    """Worker ``worker``'s trace beside ``path``: ``run.zarr`` -> ``run.worker-1.zarr``
    (``.zarr.zip`` kept last; another suffix gets ``.worker-1`` appended)."""
    return task_trace_path(path, f"worker-{worker}")


def task_trace_path(path: str, task: str) -> str:
    """A task's trace beside ``path``: ``run.zarr`` and ``evaluator-0`` -> ``run.evaluator-0.zarr``."""
    for suffix in _TRACE_SUFFIXES:
        if path.endswith(suffix):
            return f"{path[:-len(suffix)]}.{task}{suffix}"
    return f"{path.rstrip('/')}.{task}"
