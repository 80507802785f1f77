"""Pairing: which event of the first trace (A) goes with which event of the second (B).

* Variables by name (``:0`` suffix ignored, rename rules applied to B's names) and
  occurrence; snapshots and endpoints by (name, step, occurrence); renames apply to
  variables and snapshots, whose names come from scopes, not to endpoint names the
  user chose.
* Random ops by their order (step, then seed index, see :func:`random_order`), with a sequence alignment of (op type, shape, dtype)
  so that one extra op in B shows up as one extra op, not as every later op differing.
* When many variable names are unmatched and one prefix difference explains them,
  a rename rule is suggested.

Every pair gets a position in A's recording order; events only in B are placed
right after the A event paired with their nearest predecessor in B.
"""

from __future__ import annotations

import re
from collections import Counter
import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from tftrace.compare.align_state import KIND as STATE_KIND
from tftrace.compare.align_state import StateMatch, is_state, pair_state, state_names
from tftrace.errors import UsageError
from tftrace.format.schema import Event

#: The values of ``--only`` and the event kinds they select.
KIND_CHOICES = {"variables": "variable", "random": "random_op", "endpoints": "endpoint",
                "snapshots": "snapshot", "optimizer-state": STATE_KIND}
RENAMED_KINDS = ("variable", "snapshot")
#: Suggesting a rename compares unmatched names pairwise; beyond this it is skipped.
MAX_SUGGESTION_NAMES = 2000


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


def parse_only(only: str | Iterable[str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--only`` values split into event kinds and name globs (a word with ``*``, ``?``
    or ``[``): ``"snapshots,net/conv1/*"`` compares the snapshots named ``net/conv1/*``.
    No kind given: every kind."""
    words = [] if only is None else only.split(",") if isinstance(only, str) else list(only)
    globs = tuple(w.strip() for w in words if any(c in w for c in "*?["))
    rest = [w for w in words if not any(c in w for c in "*?[")]
    kinds = parse_kinds(rest if rest else None)
    return kinds, globs


def parse_kinds(only: str | Iterable[str] | None) -> tuple[str, ...]:
    """Event kinds from ``--only`` values (``"variables,random"`` or a list)."""
    if only is None:
        return tuple(KIND_CHOICES.values())
    words = only.split(",") if isinstance(only, str) else list(only)
    kinds: list[str] = []
    for word in (w.strip() for w in words):
        kind = KIND_CHOICES.get(word) or (word if word in KIND_CHOICES.values() else None)
        if kind is None:
            raise UsageError(f"expected --only values among {', '.join(KIND_CHOICES)} "
                             f"or name globs (with * ? [), got {word!r}")
        if kind not in kinds:
            kinds.append(kind)
    if not kinds:
        raise UsageError(f"expected at least one of {', '.join(KIND_CHOICES)} for --only")
    return tuple(k for k in KIND_CHOICES.values() if k in kinds)


def normalize_name(name: str) -> str:
    """A variable name without TensorFlow's ``:0`` output suffix."""
    return name[:-2] if name.endswith(":0") else name


@dataclass(frozen=True)
class Pair:
    """Two events that should hold the same thing; one side is None when unmatched.

    ``position`` orders pairs by A's recording order; ``random_index_a/b`` are the
    op's positions in each trace's random-op order.
    """

    kind: str
    a: Event | None
    b: Event | None
    position: float
    random_index_a: int | None = None
    random_index_b: int | None = None
    state: StateMatch | None = None


@dataclass(frozen=True)
class RandomGap:
    """A run of random ops present in one trace only.

    ``side`` is the trace that has them ("a" or "b"); ``index`` the random-op index
    of the first one in that trace; ``shifted`` how many paired random ops follow it
    (up to the next gap), each paired ``offset`` positions further along in B.
    """

    side: str
    index: int
    events: tuple[Event, ...]
    shifted: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "index": self.index, "seqs": [e.seq for e in self.events],
                "op_types": [e.attrs.get("op_type") for e in self.events],
                "shapes": [list(e.shape or ()) for e in self.events],
                "shifted": self.shifted, "offset": self.offset}


@dataclass(frozen=True)
class Alignment:
    pairs: tuple[Pair, ...]
    random_gaps: tuple[RandomGap, ...]
    suggested_renames: tuple[RenameRule, ...]
    #: Events left out by ``ignore`` globs: ``{kind: (count in A, count in B)}``.
    ignored: Mapping[str, tuple[int, int]] = field(default_factory=dict)


def parse_ignore(ignore: str | Iterable[str] | None) -> tuple[str, ...]:
    """``--ignore`` globs (``fnmatch``), one string or several."""
    globs = (ignore,) if isinstance(ignore, str) else tuple(ignore or ())
    for glob in globs:
        if not isinstance(glob, str) or not glob:
            raise UsageError(f"expected --ignore GLOB to be a non-empty name glob (e.g. "
                             f"'loss/*'), got {glob!r}")
    return globs


def is_ignored(event: Event, globs: Sequence[str]) -> bool:
    """The event's name (with or without ``:0``) matches one of the globs."""
    names = {event.name, normalize_name(event.name)}
    return any(fnmatch.fnmatchcase(name, glob) for glob in globs for name in names)


def is_initializer(event: Event) -> bool:
    """A random op drawn by a variable's initializer (its ``initializer`` attr)."""
    return event.attrs.get("initializer") is True


def marks_initializers(events: Iterable[Event]) -> bool:
    """True when every random op says whether it is an initializer's draw (traces
    recorded before tftrace marked them do not: they are ordered by seed alone)."""
    return all(isinstance(e.attrs.get("initializer"), bool) for e in events
               if e.kind == "random_op")


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
    index = event.attrs.get("seed_index")
    stream = 0 if split and is_initializer(event) else 1
    if isinstance(index, int) and not isinstance(index, bool):
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
    return (random_family(event.attrs.get("op_type")), event.shape, event.dtype)


def align(events_a: Sequence[Event], events_b: Sequence[Event], kinds: Sequence[str],
          rename: Sequence[RenameRule] = (), ignore: Sequence[str] = (),
          only_names: Sequence[str] = ()) -> Alignment:
    """Pair the events of two traces; see the module docstring for the rules.

    Events whose name matches an ``ignore`` glob are left out and counted per kind; with
    ``only_names``, only the events whose name matches one of those globs are paired.
    """
    if only_names:
        events_a = [e for e in events_a if is_ignored(e, only_names)]
        events_b = [e for e in events_b if is_ignored(e, only_names)]
    # Optimizer state pairs by role, not by name (compare/align_state.py).
    states_a, states_b = state_names(events_a), state_names(events_b)
    ignored: dict[str, tuple[int, int]] = {}
    if ignore:
        for side, (events, side_states) in enumerate(((events_a, states_a), (events_b, states_b))):
            for ev in events:
                if is_ignored(ev, ignore):
                    kind = STATE_KIND if is_state(ev, side_states) else ev.kind
                    counts = list(ignored.get(kind, (0, 0)))
                    counts[side] += 1
                    ignored[kind] = (counts[0], counts[1])
        events_a = [e for e in events_a if not is_ignored(e, ignore)]
        events_b = [e for e in events_b if not is_ignored(e, ignore)]
    model_a = [e for e in events_a if not is_state(e, states_a)]
    model_b = [e for e in events_b if not is_state(e, states_b)]
    matched: list[tuple[str, Event | None, Event | None, int | None, int | None]] = []
    for kind in ("variable", "snapshot", "endpoint"):
        if kind in kinds:
            matched.extend((kind, a, b, None, None) for a, b in _by_name(model_a, model_b, kind, rename))
    states: dict[tuple[int | None, int | None], StateMatch] = {}
    if STATE_KIND in kinds:
        for a, b, match in pair_state(events_a, events_b, states_a, states_b, rename):
            matched.append((STATE_KIND, a, b, None, None))
            states[(a.seq if a else None, b.seq if b else None)] = match
    gaps: tuple[RandomGap, ...] = ()
    if "random_op" in kinds:
        random_pairs, gaps = _random_ops(events_a, events_b)
        matched.extend(("random_op", *p) for p in random_pairs)
    suggestions = suggest_renames(model_a, model_b, rename) if "variable" in kinds else ()
    pairs = tuple(replace(p, state=states.get((p.a.seq if p.a else None, p.b.seq if p.b else None)))
                  if p.kind == STATE_KIND else p for p in _ordered(matched, events_b))
    return Alignment(pairs, gaps, suggestions, ignored)


def _key(event: Event) -> tuple[str, int]:
    name = event.name
    if event.kind in RENAMED_KINDS:
        name = normalize_name(name)
    return name, (0 if event.kind == "variable" else event.step)


def _by_name(events_a: Sequence[Event], events_b: Sequence[Event], kind: str,
             rename: Sequence[RenameRule]) -> list[tuple[Event | None, Event | None]]:
    def keyed(events: Sequence[Event], rules: Sequence[RenameRule]) -> dict[tuple[str, int, int], Event]:
        seen: Counter[tuple[str, int]] = Counter()
        out: dict[tuple[str, int, int], Event] = {}
        for ev in events:
            if ev.kind != kind:
                continue
            name, step = _key(ev)
            if ev.kind in RENAMED_KINDS:
                for rule in rules:
                    name = rule.apply(name)
            out[(name, step, seen[(name, step)])] = ev
            seen[(name, step)] += 1
        return out

    by_a = keyed(events_a, ())
    by_b = keyed(events_b, rename)
    pairs: list[tuple[Event | None, Event | None]] = [(ev, by_b.get(k)) for k, ev in by_a.items()]
    pairs.extend((None, ev) for k, ev in by_b.items() if k not in by_a)
    return pairs


def _random_ops(events_a: Sequence[Event], events_b: Sequence[Event]
                ) -> tuple[list[tuple[Event | None, Event | None, int | None, int | None]], tuple[RandomGap, ...]]:
    split = marks_initializers(events_a) and marks_initializers(events_b)
    ops_a = sorted((e for e in events_a if e.kind == "random_op"),
                   key=lambda e: random_order(e, split))
    ops_b = sorted((e for e in events_b if e.kind == "random_op"),
                   key=lambda e: random_order(e, split))
    tokens_a = [random_token(e) for e in ops_a]
    tokens_b = [random_token(e) for e in ops_b]
    pairs: list[tuple[Event | None, Event | None, int | None, int | None]] = []
    if tokens_a == tokens_b:
        return [(a, b, i, i) for i, (a, b) in enumerate(zip(ops_a, ops_b))], ()
    opcodes = align_sequences(tokens_a, tokens_b)
    raw_gaps: list[tuple[int, str, int, tuple[Event, ...]]] = []  # (opcode position, side, index, events)
    for position, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag in ("equal", "replace"):
            # A replace pairs ops positionally: the same slot holds a different op,
            # which the structure check reports as an op type / shape mismatch.
            common = min(i2 - i1, j2 - j1)
            pairs.extend((ops_a[i1 + k], ops_b[j1 + k], i1 + k, j1 + k) for k in range(common))
            i1, j1 = i1 + common, j1 + common
        if i2 > i1:
            pairs.extend((ops_a[i], None, i, None) for i in range(i1, i2))
            raw_gaps.append((position, "a", i1, tuple(ops_a[i1:i2])))
        if j2 > j1:
            pairs.extend((None, ops_b[j], None, j) for j in range(j1, j2))
            raw_gaps.append((position, "b", j1, tuple(ops_b[j1:j2])))
    gaps = []
    for n, (position, side, index, events) in enumerate(raw_gaps):
        stop = raw_gaps[n + 1][0] if n + 1 < len(raw_gaps) else len(opcodes)
        after = [op for op in opcodes[position + 1:stop] if op[0] in ("equal", "replace")]
        shifted = sum(min(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in after)
        offset = (after[0][3] - after[0][1]) if after else 0
        gaps.append(RandomGap(side, index, events, shifted, offset))
    return pairs, tuple(gaps)


#: How far ahead a gap of extra or missing random ops is looked for.
MAX_GAP = 64
#: How many following ops must line up to accept a gap.
LOOKAHEAD = 32


def align_sequences(a: Sequence[Any], b: Sequence[Any]) -> list[tuple[str, int, int, int, int]]:
    """Align two token sequences; difflib-style opcodes (equal, replace, delete, insert).

    Walks both sequences; at a mismatch it tries "one op differs", "B has d extra"
    and "B lacks d" (d up to ``MAX_GAP``) and keeps the choice after which the most
    following ops line up (up to ``LOOKAHEAD``, both ends reached counting as best),
    the smallest gap on a tie. Unlike difflib's longest-block matching this is not
    fooled by periodic sequences (uniform, normal, uniform, normal, ...), and it is
    linear for sequences that mostly agree.
    """
    ops: list[tuple[str, int, int, int, int]] = []

    def emit(tag: str, i1: int, i2: int, j1: int, j2: int) -> None:
        if ops and ops[-1][0] == tag and ops[-1][2] == i1 and ops[-1][4] == j1:
            ops[-1] = (tag, ops[-1][1], i2, ops[-1][3], j2)
        else:
            ops.append((tag, i1, i2, j1, j2))

    def run(i: int, j: int) -> int:
        n = 0
        while n < LOOKAHEAD and i + n < len(a) and j + n < len(b) and a[i + n] == b[j + n]:
            n += 1
        if i + n == len(a) and j + n == len(b):
            return LOOKAHEAD + 1  # both ends reached together: nothing left unexplained
        return n

    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            emit("equal", i, i + 1, j, j + 1)
            i, j = i + 1, j + 1
            continue
        # (score, -cost, tag, di, dj): a higher score, then a lower cost wins.
        best = (run(i + 1, j + 1), -1, "replace", 1, 1)
        for d in range(1, MAX_GAP + 1):
            if j + d <= len(b):
                best = max(best, (run(i, j + d), -d, "insert", 0, d))
            if i + d <= len(a):
                best = max(best, (run(i + d, j), -d, "delete", d, 0))
            if best[0] > LOOKAHEAD:
                break
        _, _, tag, di, dj = best
        emit(tag, i, i + di, j, j + dj)
        i, j = i + di, j + dj
    if i < len(a):
        emit("delete", i, len(a), j, j)
    if j < len(b):
        emit("insert", i, i, j, len(b))
    return ops


def _ordered(matched: list[tuple[str, Event | None, Event | None, int | None, int | None]],
             events_b: Sequence[Event]) -> tuple[Pair, ...]:
    """Give every pair its position in A's recording order, and sort."""
    a_of_b = {b.seq: a.seq for _, a, b, _, _ in matched if a is not None and b is not None}
    position_of_b: dict[int, float] = {}
    last = 0.0  # before any paired event: still after A's first event, which leads
    for ev in events_b:
        if ev.seq in a_of_b:
            last = float(a_of_b[ev.seq])
        else:
            position_of_b[ev.seq] = last + 0.5
    pairs = []
    for kind, a, b, ia, ib in matched:
        position = float(a.seq) if a is not None else position_of_b[b.seq] if b is not None else 0.0
        pairs.append(Pair(kind, a, b, position, ia, ib))
    pairs.sort(key=lambda p: (p.position, p.b.seq if p.b is not None else -1))
    return tuple(pairs)


def suggest_renames(events_a: Sequence[Event], events_b: Sequence[Event],
                    rename: Sequence[RenameRule] = ()) -> tuple[RenameRule, ...]:
    """A rename rule for B that would match at least half of the unmatched variables.

    Looks for the prefix difference (whole ``/``-separated scopes) that explains the
    most unmatched pairs, e.g. B ``model/dense/kernel`` vs A ``dense/kernel`` gives
    ``^model/=``.
    """
    names_a = {normalize_name(e.name) for e in events_a if e.kind == "variable"}
    names_b = set()
    for ev in events_b:
        if ev.kind == "variable":
            name = normalize_name(ev.name)
            for rule in rename:
                name = rule.apply(name)
            names_b.add(name)
    only_a = sorted(names_a - names_b)
    only_b = sorted(names_b - names_a)
    if not only_a or not only_b or len(only_a) * len(only_b) > MAX_SUGGESTION_NAMES ** 2:
        return ()
    candidates: Counter[tuple[str, str]] = Counter()
    for name_b in only_b:
        parts_b = name_b.split("/")
        for name_a in only_a:
            parts_a = name_a.split("/")
            common = 0
            while (common < min(len(parts_a), len(parts_b))
                   and parts_a[-1 - common] == parts_b[-1 - common]):
                common += 1
            if common == 0:
                continue
            prefix_a = "/".join(parts_a[:len(parts_a) - common])
            prefix_b = "/".join(parts_b[:len(parts_b) - common])
            candidates[(prefix_b + "/" if prefix_b else "", prefix_a + "/" if prefix_a else "")] += 1
    best: tuple[int, RenameRule] | None = None
    unmatched_a = set(only_a)
    for (prefix_b, prefix_a), _ in candidates.most_common(10):
        rule = RenameRule("^" + re.escape(prefix_b), prefix_a.replace("\\", "\\\\"))
        fixed = sum(1 for name in only_b if rule.apply(name) in unmatched_a)
        if best is None or fixed > best[0]:
            best = (fixed, rule)
    if best is None or best[0] == 0 or best[0] * 2 < min(len(only_a), len(only_b)):
        return ()
    return (best[1],)
