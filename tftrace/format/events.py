"""The event vocabulary: the kinds of event a trace holds and the typed attributes of each.

Writers build these objects, readers get them back; nothing outside this module reads
an event's attributes by key. Each kind has one frozen dataclass (``VariableAttrs``,
``RandomOpAttrs``, ...) whose ``from_dict`` checks every known key's type (a trace is
untrusted input) and whose ``to_dict`` gives back exactly the map that was read or
would be written. Keys a kind does not know are carried along in ``extra``
(docs/format.md: readers ignore keys they do not know) but must be plain metadata.

Adding a kind (docs/architecture.md, "A new event kind"): a member of :class:`EventKind`,
its attrs dataclass registered in ``ATTRS`` and its :class:`KindRules`, then its adapters
in ``recording/`` and its words in ``report/``.

The attrs are also read-only mappings of their stored form (``event.attrs["seed"]`` is
``[42, 0]``), for people and for ``tftrace cat``; code reads the typed fields.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Iterator, Mapping

from tftrace.format.fields import (BOOL, INT, OPT_STR, SEED, STR, FieldError, FieldType,
                                   check_plain, describe, type_name)


class EventKind(str, enum.Enum):
    """The kinds of event; each member's value is the name stored in a trace."""

    VARIABLE = "variable"
    RANDOM_OP = "random_op"
    ENDPOINT = "endpoint"
    SNAPSHOT = "snapshot"

    # A kind reads as its stored name everywhere (f-strings, joins, JSON): it *is* that str.
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


#: The stored names, in the order reports list them.
EVENT_KINDS: tuple[str, ...] = tuple(kind.value for kind in EventKind)
_KIND_OF = {kind.value: kind for kind in EventKind}


def event_kind(name: Any) -> EventKind:
    """The kind stored as ``name``; raises :class:`FieldError` naming the valid ones."""
    kind = _KIND_OF.get(name) if isinstance(name, str) else None
    if kind is None:
        raise FieldError("kind", f"one of {', '.join(EVENT_KINDS)}", describe(name))
    return kind


@dataclass(frozen=True)
class KindRules:
    """How a kind is compared and named (codes only; the words are in report/).

    ``choice``: its name for ``--only``; ``stream``: which input stream a divergence of it
    breaks (``variables``, ``random`` or ``computation``); ``renamed``: its names are
    scope paths that rename rules and the ``:0`` suffix rule apply to; ``per_step``:
    paired by step as well as by name.
    """

    choice: str
    stream: str
    renamed: bool
    per_step: bool


RULES: dict[EventKind, KindRules] = {
    EventKind.VARIABLE: KindRules("variables", "variables", renamed=True, per_step=False),
    EventKind.RANDOM_OP: KindRules("random", "random", renamed=False, per_step=True),
    EventKind.ENDPOINT: KindRules("endpoints", "computation", renamed=False, per_step=True),
    EventKind.SNAPSHOT: KindRules("snapshots", "computation", renamed=True, per_step=True),
}

#: A kind that a diff derives from stored events rather than one a trace stores: the
#: variables and snapshots that an optimizer keeps (its slots, step count, beta powers,
#: learning rate) are compared as optimizer state, paired by role (compare/align_state.py).
OPTIMIZER_STATE = "optimizer_state"
DERIVED_RULES: dict[str, KindRules] = {
    OPTIMIZER_STATE: KindRules("optimizer-state", "optimizer", renamed=True, per_step=True),
}
#: Every kind a diff compares, stored then derived, in the order reports list them.
COMPARED_RULES: dict[str, KindRules] = {
    **{kind.value: rules for kind, rules in RULES.items()}, **DERIVED_RULES}


class EventAttrs(Mapping[str, Any]):
    """Base of the per-kind attrs: validation, the stored form and the mapping view.

    Subclasses are frozen dataclasses whose fields are the typed keys (``None``: the key
    is absent), plus ``extra`` (keys the kind does not know) and ``present`` (the keys
    of the stored form, in order; ``None`` for attrs a writer builds).
    """

    __slots__ = ()
    KIND: ClassVar[EventKind]
    #: The typed keys and their types, in the order tftrace writes them.
    TYPES: ClassVar[dict[str, FieldType]]
    #: Keys a writer stores even when their value is None.
    ALWAYS: ClassVar[frozenset[str]] = frozenset()

    extra: Mapping[str, Any]
    present: tuple[str, ...] | None
    call_site: str | None  # every kind says where the program asked for it

    @classmethod
    def from_dict(cls, raw: Any) -> EventAttrs:
        """Validate a stored attrs map; raises :class:`FieldError` naming the key (``attrs.seed``)."""
        check_plain(raw, "attrs")
        if not isinstance(raw, dict):
            raise FieldError("attrs", "a map", type_name(raw))
        types = cls.TYPES
        values = dict(_defaults(cls))
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            field_type = types.get(key)
            if field_type is None:
                extra[key] = value
                continue
            if not field_type.check(value):
                raise FieldError(f"attrs.{key}", field_type.expected, describe(value))
            values[key] = tuple(value) if field_type is SEED and value is not None else value
        values["extra"], values["present"] = extra, tuple(raw)
        # A trace holds millions of events: fill the frozen instance at once, checked above.
        attrs = object.__new__(cls)
        attrs.__dict__.update(values)
        return attrs

    def to_dict(self) -> dict[str, Any]:
        """The stored form: the map ``from_dict`` read, or the one a writer stores."""
        return {key: self._stored(key) for key in self._keys()}

    def replace(self, **changes: Any) -> EventAttrs:
        """A copy with some typed fields changed (and stored)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        values.update(changes)
        if self.present is not None:
            values["present"] = self.present + tuple(k for k in changes if k not in self.present)
        return type(self)(**values)

    def _keys(self) -> tuple[str, ...]:
        if self.present is not None:
            return self.present
        return tuple(k for k in self.TYPES if k in self.ALWAYS or getattr(self, k) is not None) + \
            tuple(self.extra)

    def _stored(self, key: str) -> Any:
        if key in self.TYPES:
            value = getattr(self, key)
            return list(value) if isinstance(value, tuple) else value
        return self.extra[key]

    # -- the read-only mapping view ------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return self._stored(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


@dataclass(frozen=True, eq=False, repr=False)
class VariableAttrs(EventAttrs):
    """A variable's creation: trainability, creation order, which call of the model
    created it (``call_index`` > 0 is a finding), where, and how its value was read.

    ``mode``: ``graph`` or ``eager``; ``function``: the tf.function whose trace created
    it; ``initial_value``: ``after-first-execution`` when its initializer could not be
    lifted out of that function; ``initialized``: False when it never got a value;
    ``replayed``: whether replay gave it run A's initial value.
    """

    KIND: ClassVar[EventKind] = EventKind.VARIABLE
    TYPES: ClassVar[dict[str, FieldType]] = {
        "trainable": BOOL, "creation_index": INT, "call_index": INT, "call_site": OPT_STR,
        "mode": STR, "function": OPT_STR, "initial_value": STR, "initialized": BOOL,
        "replayed": BOOL}
    ALWAYS: ClassVar[frozenset[str]] = frozenset({"call_site"})

    trainable: bool | None = None
    creation_index: int | None = None
    call_index: int | None = None
    call_site: str | None = None
    mode: str | None = None
    function: str | None = None
    initial_value: str | None = None
    initialized: bool | None = None
    replayed: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    present: tuple[str, ...] | None = None


@dataclass(frozen=True, eq=False, repr=False)
class RandomOpAttrs(EventAttrs):
    """A random op: its type, seed pair and place in the seed order, how it ran, where.

    ``seed_index``: when it got its seed (the random-op order, format/rules.py);
    ``mode``: ``graph``, ``eager`` or ``function``; ``initializer``: drawn by a
    variable's initializer (``variable`` names it); ``replayed_from``: the seq of run
    A's event whose values it took under replay.
    """

    KIND: ClassVar[EventKind] = EventKind.RANDOM_OP
    TYPES: ClassVar[dict[str, FieldType]] = {
        "op_type": STR, "seed": SEED, "seed_index": INT, "mode": STR, "name_scope": OPT_STR,
        "op_name": OPT_STR, "call_site": OPT_STR, "initializer": BOOL, "variable": OPT_STR,
        "replayed_from": INT}
    ALWAYS: ClassVar[frozenset[str]] = frozenset({"seed", "name_scope", "op_name", "call_site"})

    op_type: str | None = None
    seed: tuple[int, int] | None = None
    seed_index: int | None = None
    mode: str | None = None
    name_scope: str | None = None
    op_name: str | None = None
    call_site: str | None = None
    initializer: bool | None = None
    variable: str | None = None
    replayed_from: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    present: tuple[str, ...] | None = None


@dataclass(frozen=True, eq=False, repr=False)
class EndpointAttrs(EventAttrs):
    """A named value the program asked to record: where it asked."""

    KIND: ClassVar[EventKind] = EventKind.ENDPOINT
    TYPES: ClassVar[dict[str, FieldType]] = {"call_site": OPT_STR}
    ALWAYS: ClassVar[frozenset[str]] = frozenset({"call_site"})

    call_site: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    present: tuple[str, ...] | None = None


@dataclass(frozen=True, eq=False, repr=False)
class SnapshotAttrs(EventAttrs):
    """A variable's value at a step: read eagerly or through a Session (``mode``)."""

    KIND: ClassVar[EventKind] = EventKind.SNAPSHOT
    TYPES: ClassVar[dict[str, FieldType]] = {"mode": STR, "call_site": OPT_STR}

    mode: str | None = None
    call_site: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    present: tuple[str, ...] | None = None


def _defaults(cls: type[EventAttrs]) -> dict[str, Any]:
    found = _DEFAULTS.get(cls)
    if found is None:
        found = _DEFAULTS[cls] = {f.name: None for f in fields(cls)}  # type: ignore[arg-type]
    return found


_DEFAULTS: dict[type, dict[str, Any]] = {}

#: The attrs class of each kind.
ATTRS: dict[EventKind, type[EventAttrs]] = {
    EventKind.VARIABLE: VariableAttrs, EventKind.RANDOM_OP: RandomOpAttrs,
    EventKind.ENDPOINT: EndpointAttrs, EventKind.SNAPSHOT: SnapshotAttrs,
}
assert set(ATTRS) == set(EventKind) == set(RULES)

_NO_ATTRS = {kind: cls(present=()) for kind, cls in ATTRS.items()}  # type: ignore[call-arg]


def attrs_from_dict(kind: EventKind, raw: Any) -> EventAttrs:
    """The typed attrs of a ``kind`` event from their stored map (empty or None: no attrs)."""
    if not raw:  # nil, an empty map (or any empty value, as readers always took it)
        return _NO_ATTRS[kind]
    return ATTRS[kind].from_dict(raw)


def as_attrs(kind: EventKind, attrs: EventAttrs | Mapping[str, Any] | None) -> EventAttrs:
    """``attrs`` as the typed attrs of ``kind`` (a plain map is validated)."""
    if isinstance(attrs, EventAttrs):
        if attrs.KIND is not kind:
            raise FieldError("attrs", f"the attrs of a {kind} event", f"{type(attrs).__name__}")
        return attrs
    return attrs_from_dict(kind, dict(attrs) if attrs else None)
