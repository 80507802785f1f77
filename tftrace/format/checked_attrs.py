"""The attrs of an event as the writer stores them, refused before anything is written
if the reader would refuse them; each typed attrs object is checked once.

A captured stream (layers, gradients...) hands the same frozen attrs object for a value
on every execution of its function: checking it again (its stored map, a msgpack round
trip, the reader's validation) cost most of the writer's time per event, so the checked
form, and its stored map packed, are remembered by object. The maps inside typed attrs
must not change after the first event that carried them.

An op's attrs differ at every execution only in ``inputs`` (the seqs of the events that
recorded its inputs this time): such a kind's per-execution fields (``PER_EXECUTION``)
are checked per event, and the rest once, remembered by the identity of its field
values (the same objects at every execution: the op capture builds them once per op
output); its packed map is the packed rest with the ints packed in their place. What
the per-event check does not accept at once (not as many plain ints as when checked)
goes through the full check, which gives the error.
"""

from __future__ import annotations

import operator
from dataclasses import fields
from typing import Any, Callable, Mapping, cast

from msgpack import packb as _packb

from tftrace.errors import UsageError
from tftrace.format import limits
from tftrace.format.events import ATTRS, EventAttrs, EventKind, as_attrs, event_kind
from tftrace.format.fields import FieldError
from tftrace.format.packing import pack, plain

#: Objects remembered at most (eager ops give new attrs every time: then forgotten).
REMEMBERED = 8192
#: Attrs with per-execution fields remembered at most by their other fields (one per op
#: output of the functions recorded: a MobileNetV2 training step has 2817).
TEMPLATES = 16384
#: Per kind, the typed fields (lists of ints) that change from one execution to the next.
PER_EXECUTION: dict[EventKind, tuple[str, ...]] = {EventKind.OP: ("inputs",)}
_PER_EXECUTION_TYPES: dict[type, tuple[str, ...]] = {ATTRS[kind]: names
                                                     for kind, names in PER_EXECUTION.items()}
#: The ints msgpack stores (the full check refuses the others).
_LOWEST, _HIGHEST = -(1 << 63), (1 << 64) - 1
_INT = {int}

Stored = tuple[EventAttrs, bytes]  # the attrs as stored, and their stored map packed


class CheckedAttrs:
    """The checked form of each typed attrs object given, remembered by object."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[EventAttrs, Stored]] = {}  # id -> (given, as stored)
        self._templates: dict[tuple[int, ...], _Template] = {}
        self._getters: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {}

    def as_stored(self, kind: str, attrs: EventAttrs | Mapping[str, Any] | None) -> EventAttrs:
        """``attrs`` as a ``kind`` event stores them; :class:`UsageError` if they cannot be."""
        return self.stored(kind, attrs)[0]

    def stored(self, kind: str, attrs: EventAttrs | Mapping[str, Any] | None) -> Stored:
        """``attrs`` as a ``kind`` event stores them, and their stored map as msgpack
        bytes (what packing ``to_dict()`` gives); :class:`UsageError` if they cannot be stored."""
        variable = _PER_EXECUTION_TYPES.get(type(attrs))  # (before an ABC isinstance: faster)
        if variable is not None:
            return self._per_execution(kind, cast(EventAttrs, attrs), variable)
        if not isinstance(attrs, EventAttrs):
            return _packed(checked_attrs(kind, attrs))
        known = self._known.get(id(attrs))
        if known is not None and known[0] is attrs and known[1][0].KIND == kind:
            return known[1]
        stored = _packed(checked_attrs(kind, attrs))
        if len(self._known) >= REMEMBERED:
            self._known.clear()
        self._known[id(attrs)] = (attrs, stored)  # the given object is kept: its id stays its own
        return stored

    def around(self, kind: str, attrs: EventAttrs) -> tuple[EventAttrs, bytes, bytes | None] | None:
        """``attrs`` as a ``kind`` event stores them (checked: :class:`UsageError` if they
        cannot be), and their stored map packed: as the bytes before and after the kind's
        per-execution field's value (format/prepared.py packs the ints between), or whole
        and None for a kind without one. None when the map is too large to be spliced."""
        stored = checked_attrs(kind, attrs)
        variable = PER_EXECUTION.get(stored.KIND, ())
        if not variable:
            return stored, pack(stored.to_dict(), "attrs"), None
        if len(variable) != 1 or not isinstance(getattr(stored, variable[0]), tuple):
            return None
        template = _Template(attrs, stored, variable)
        template._prepare()
        pieces = template.pieces or []
        if len(pieces) not in (2, 3) or pieces[1] != 0 or not isinstance(pieces[0], bytes):
            return None
        tail = pieces[2] if len(pieces) == 3 else b""
        assert isinstance(tail, bytes)
        return stored, pieces[0], tail

    def _per_execution(self, kind: str, attrs: EventAttrs, variable: tuple[str, ...]) -> Stored:
        getters = self._getters.get(type(attrs))
        if getters is None:
            rest = [f.name for f in fields(attrs) if f.name not in variable]  # type: ignore[arg-type]
            getters = self._getters[type(attrs)] = (operator.attrgetter(*rest),
                                                    operator.attrgetter(*variable))
        # Ids of the other fields' values: equal ids of live objects are the same objects
        # (the template keeps its own alive), whose stored form was checked.
        key = tuple(map(id, getters[0](attrs)))
        values = getters[1](attrs)
        if len(variable) == 1:
            values = (values,)
        template = self._templates.get(key)
        if template is not None and type(template.given) is type(attrs) and template.accepts(kind, values):
            return template.derive(values)
        stored = _packed(checked_attrs(kind, attrs))
        if all(isinstance(getattr(stored[0], k), tuple) for k in variable):
            if len(self._templates) >= TEMPLATES:
                self._templates.clear()
            self._templates[key] = _Template(attrs, stored[0], variable)
        return stored


class _Template:
    """The checked form of an attrs object whose per-execution fields may change: its
    stored map packed around them."""

    __slots__ = ("given", "stored", "variable", "lengths", "pieces")

    def __init__(self, given: EventAttrs, stored: EventAttrs, variable: tuple[str, ...]) -> None:
        self.given = given  # kept: the ids of its field values stay theirs
        self.stored = stored
        self.variable = variable
        self.lengths = tuple(len(getattr(stored, k)) for k in variable)
        self.pieces: list[bytes | int] | None = None  # packed at the second event (eager
        # ops make new attrs for every event: they never come back)

    def _prepare(self) -> None:
        stored_map = self.stored.to_dict()
        # The same number of ints as checked: the record stays within the size limit
        # (each int packs in at most 9 bytes).
        if len(pack(stored_map, "attrs")) + 9 * sum(self.lengths) > limits.MAX_ATTRS_BYTES:
            self.pieces = []  # never derived: every event takes the full check
            return
        # A map packs as its header, then each key and value: the per-execution values
        # are packed per event (an int: their index in ``variable``), the rest once here.
        pieces: list[bytes | int] = [_map_header(len(stored_map))]
        for key, value in stored_map.items():
            if key in self.variable:
                pieces += [_pair(key, None)[:-1], self.variable.index(key)]  # the key, packed
            else:
                pieces.append(_pair(key, value))
        self.pieces = _merged(pieces)

    def accepts(self, kind: str, values: tuple[Any, ...]) -> bool:
        """Whether ``values`` (the per-execution fields) pass the per-event check."""
        if self.stored.KIND != kind or len(values) != len(self.lengths):
            return False
        for value, length in zip(values, self.lengths):
            if type(value) not in (tuple, list) or len(value) != length:
                return False
            if value and not (set(map(type, value)) == _INT and min(value) >= _LOWEST
                              and max(value) <= _HIGHEST):
                return False
        if self.pieces is None:
            self._prepare()
        return bool(self.pieces)

    def derive(self, values: tuple[Any, ...]) -> Stored:
        """The stored form with the per-execution fields set to ``values`` (checked)."""
        attrs = object.__new__(type(self.stored))  # a frozen dataclass, filled at once
        fill = attrs.__dict__
        fill.update(self.stored.__dict__)
        for key, value in zip(self.variable, values):
            fill[key] = tuple(value)
        # plain ints only (checked): msgpack packs them, in a tuple or a list, as the
        # stored list
        packed = b"".join([p if type(p) is bytes else _packb(values[p])  # type: ignore[index]
                           for p in self.pieces or ()])
        return attrs, packed


def _packed(attrs: EventAttrs) -> Stored:
    return attrs, pack(attrs.to_dict(), "attrs")


def _pair(key: str, value: Any) -> bytes:
    """A map entry packed: a one-entry map without its header byte."""
    return pack({key: value}, "attrs")[1:]


def _map_header(size: int) -> bytes:
    """The msgpack header of a map of ``size`` entries."""
    if size < 16:
        return bytes([0x80 | size])
    if size < 1 << 16:
        return b"\xde" + size.to_bytes(2, "big")
    return b"\xdf" + size.to_bytes(4, "big")


def _merged(pieces: list[bytes | int]) -> list[bytes | int]:
    out: list[bytes | int] = []
    for piece in pieces:
        if out and isinstance(piece, bytes) and isinstance(out[-1], bytes):
            out[-1] = out[-1] + piece
        else:
            out.append(piece)
    return out


def checked_attrs(kind: str, attrs: EventAttrs | Mapping[str, Any] | None) -> EventAttrs:
    """The attrs as stored, refused here if the reader would refuse them (format/events.py)."""
    typed = event_kind(kind)
    try:
        if not attrs:
            return as_attrs(typed, None)
        if isinstance(attrs, EventAttrs) and attrs.KIND is not typed:
            raise FieldError("attrs", f"the attrs of a {kind} event", type(attrs).__name__)
        stored = attrs.to_dict() if isinstance(attrs, EventAttrs) else dict(attrs)
        return as_attrs(typed, plain(stored, limits.MAX_ATTRS_BYTES, f"the attrs of a {kind} event"))
    except FieldError as exc:
        raise UsageError(f"cannot record a {kind} event with these attrs: {exc}") from None
