"""The attrs of an event as the writer stores them, refused before anything is written
if the reader would refuse them; each typed attrs object is checked once.

A captured stream (layers, gradients...) hands the same frozen attrs object for a value
on every execution of its function: checking it again (its stored map, a msgpack round
trip, the reader's validation) cost most of the writer's time per event, so the checked
form is remembered by object. The maps inside typed attrs must not change after the
first event that carried them.
"""

from __future__ import annotations

from typing import Any, Mapping

from tftrace.errors import UsageError
from tftrace.format import limits
from tftrace.format.events import EventAttrs, as_attrs, event_kind
from tftrace.format.fields import FieldError
from tftrace.format.packing import plain

#: Objects remembered at most (eager ops give new attrs every time: then forgotten).
REMEMBERED = 8192


class CheckedAttrs:
    """The checked form of each typed attrs object given, remembered by object."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[EventAttrs, EventAttrs]] = {}  # id -> (given, as stored)

    def as_stored(self, kind: str, attrs: EventAttrs | Mapping[str, Any] | None) -> EventAttrs:
        """``attrs`` as a ``kind`` event stores them; :class:`UsageError` if they cannot be."""
        if not isinstance(attrs, EventAttrs):
            return checked_attrs(kind, attrs)
        known = self._known.get(id(attrs))
        if known is not None and known[0] is attrs and known[1].KIND == kind:
            return known[1]
        checked = checked_attrs(kind, attrs)
        if len(self._known) >= REMEMBERED:
            self._known.clear()
        self._known[id(attrs)] = (attrs, checked)  # the given object is kept: its id stays its own
        return checked


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
