"""An event written on every execution of a traced function, prepared once: its name and
attrs checked and the constant parts of its record packed once, so that each execution
packs only what changes (the records are the same bytes, docs/format.md).

A ``tf.function`` observed at level ``stats`` writes, per execution and observed value,
an event whose record differs from the last one only in ``seq``, ``step``, ``occ``,
``t``, the statistics (and ``shape``, ``dtype``, ``stats.size`` when they change) and,
for an op event, the ``inputs`` seqs of its attrs. Such a record, a msgpack map, is its
constant pieces with those values packed between them (:meth:`PreparedEvent.record`),
which :meth:`~tftrace.format.writer.TraceWriter.add_prepared` writes. The plain log only
(format 3): the compact log of a recording against a trace takes the per-event path.
"""

from __future__ import annotations

import struct
import time
from typing import Any, Callable, Sequence

import msgpack

from tftrace.format.checked_attrs import PER_EXECUTION, CheckedAttrs
from tftrace.format.events import EventAttrs, event_kind
from tftrace.format.packing import _default, pack
from tftrace.format.schema import ValueSummary, check_name

#: A Python float as msgpack packs it (float 64).
_FLOAT = struct.Struct(">Bd").pack
#: Zero NaN and Inf counts, packed with the "inf" key between them.
_NO_COUNTS = b"\x00\xa3inf\x00"


def _packed(value: Any) -> bytes:
    return pack(value, "event record")


class PreparedEvent:
    """A ``kind`` event named ``name`` whose attrs change between executions only in the
    kind's per-execution field (``PER_EXECUTION``: an op's ``inputs``), if it has one.

    ``attrs``: the typed attrs, that field set to as many ints as every execution gives.
    Checked here: :class:`~tftrace.errors.UsageError` if they cannot be stored. ``fast``
    is False when the record cannot be spliced (attrs near the size limit): every event
    then takes the writer's per-event path.
    """

    __slots__ = ("kind", "name", "key", "given", "fast", "_field", "_length", "_head", "_head_stored", "_middle",
                 "_attrs_head", "_attrs_part", "_attrs_tail", "_values_key", "_values", "_floats")

    def __init__(self, kind: str, name: str, attrs: EventAttrs, checked: CheckedAttrs,
                 spliced: bool = True) -> None:
        self.kind = event_kind(kind)
        self.name = check_name(name, allow_empty=True)
        self.key = (self.kind, self.name)  # its occurrence counter's (format/occurrences.py)
        self.given = attrs
        fields = PER_EXECUTION.get(self.kind, ())
        self._field = fields[0] if fields else None
        around = checked.around(kind, attrs)
        self.fast = spliced and around is not None
        stored, head, tail = around if around is not None else (checked.as_stored(kind, attrs), b"", None)
        self._length = len(getattr(stored, self._field)) if tail is not None and self._field else 0
        # Event.to_dict's keys, in its order; an empty attrs map is left out
        with_attrs = tail is not None or head != b"\x80"
        keys = 13 if with_attrs else 12
        self._head = bytes([0x80 | keys]) + _packed("type") + _packed("event") + _packed("seq")
        self._head_stored = bytes([0x80 | (keys + 1)]) + self._head[1:]  # and "pack"
        self._middle = _packed("kind") + _packed(self.kind.value) + _packed("name") + \
            _packed(self.name) + _packed("step")
        self._attrs_part = _packed("attrs") + head if with_attrs else b""
        self._attrs_head = _packed("digest") + b"\xc0" + _packed("array") + b"\xc0" + self._attrs_part
        self._attrs_tail = tail
        self._values_key: tuple[Any, ...] | None = None
        self._values = b""
        self._floats: Callable[..., bytes] = _FLOAT

    def accepts(self, values: Sequence[Any] | None) -> bool:
        """Whether :meth:`record` writes this event: ``fast``, and ``values`` (of the
        per-execution field) as many plain ints as prepared, spliced in as they are (one
        out of msgpack's range makes :meth:`record` raise ``OverflowError``)."""
        if self._attrs_tail is None:
            return values is None and self.fast
        if values is None or type(values) not in (list, tuple) or len(values) != self._length:
            return False
        for value in values:
            if type(value) is not int:
                return False
        return self.fast

    def record(self, seq: int, step: int, occurrence: int, time: float, value: ValueSummary,
               values: Sequence[int] | None, packer: msgpack.Packer, stored: Any = None) -> bytes:
        """The event's log record (format 3, or 6 with ``stored``): the bytes of packing
        ``Event.to_dict()`` with a ``"type": "event"`` first. ``values``: accepted
        (:meth:`accepts`). ``stored``: the value's ``digest``, ``array_key`` and ``packed``
        (a ``value_files.StagedValue``), else none."""
        pk = packer.pack
        stats = value.stats
        if (value.shape, value.dtype, stats.size) != self._values_key:  # same at every execution
            self._prepare_values(value, pk)  # when the graph knows the shape
        low, high, mean, nan, inf = stats.min, stats.max, stats.mean, stats.nan_count, stats.inf_count
        if type(low) is float and type(high) is float and type(mean) is float:
            # from "t" to the "nan" key in one call: float64s and the keys between them
            floats = self._floats(b"\xa1t\xcb", time, self._values, low, b"\xa3max\xcb", high,
                                  b"\xa4mean\xcb", mean, b"\xa3nan")
        else:  # None (no value counted), or a number of another type: as msgpack packs it
            floats = b"".join([b"\xa1t", _FLOAT(0xCB, time), self._values[:-1], pk(low), b"\xa3max",
                               pk(high), b"\xa4mean", pk(mean), b"\xa3nan"])
        counts = _NO_COUNTS if type(nan) is int and type(inf) is int and not nan and not inf \
            else pk(nan) + b"\xa3inf" + pk(inf)
        if stored is None:
            parts = [self._head, pk(seq), self._middle, pk(step), b"\xa3occ", pk(occurrence), floats,
                     counts, self._attrs_head]
        else:
            packed = stored.packed
            parts = [self._head_stored, pk(seq), self._middle, pk(step), b"\xa3occ", pk(occurrence), floats,
                     counts, b"\xa6digest", pk(stored.digest), b"\xa5array", pk(stored.array_key), b"\xa4pack",
                     pk([packed.offset, packed.length, packed.codec]), self._attrs_part]
        if self._attrs_tail is not None:
            parts += [pk(values), self._attrs_tail]
        return b"".join(parts)

    def ready_for(self, shape: tuple[int, ...], dtype: str, size: int) -> bool:
        """Whether :func:`spliced_records` may write this event's statistics of a value of
        ``shape``, ``dtype`` and ``size``: ``fast``, and its values' pieces packed for them
        (by a :meth:`record` of such a value)."""
        return self.fast and self._values_key == (shape, dtype, size)

    def _prepare_values(self, value: ValueSummary, pk: Any) -> None:
        # the record's "shape" to "min" keys, then the float64 marker of min
        self._values = _packed("shape") + pk(list(value.shape)) + _packed("dtype") + pk(value.dtype) + \
            _packed("stats") + b"\x86" + _packed("size") + pk(value.stats.size) + _packed("min") + b"\xcb"
        self._floats = struct.Struct(f">3sd{len(self._values)}sd5sd6sd4s").pack
        self._values_key = (value.shape, value.dtype, value.stats.size)

    def attrs_with(self, values: Sequence[Any] | None) -> EventAttrs:
        """The typed attrs of one execution, for the per-event path: the prepared attrs'
        field objects shared (the writer remembers their check), ``values`` in the field."""
        if self._field is None:
            return self.given
        attrs = object.__new__(type(self.given))  # a frozen dataclass, filled at once
        attrs.__dict__.update(self.given.__dict__)
        attrs.__dict__[self._field] = tuple(values) if type(values) is list else values
        return attrs


def spliced_records(events: Sequence[PreparedEvent], seq: int, step: int, occurrences: Sequence[int],
                    start: float, lows: Sequence[float], highs: Sequence[float], means: Sequence[float],
                    values: Sequence[Sequence[int] | None], packer: msgpack.Packer) -> list[bytes]:
    """The records of consecutive events (seqs from ``seq``) at ``step``, each as
    :meth:`PreparedEvent.record` gives it for statistics without NaN or Inf (``lows``,
    ``highs``, ``means``: Python floats) of the value each is :meth:`~PreparedEvent.ready_for`,
    its ``t`` taken as it is packed (``start``: the recording's start time). ``values``:
    each event's per-execution field, accepted (:meth:`PreparedEvent.accepts`)."""
    pk = packer.pack
    step_occurrence = pk(step) + b"\xa3occ"
    clock = time.time
    out = []
    for event, occurrence, low, high, mean, field in zip(events, occurrences, lows, highs, means, values):
        floats = event._floats(b"\xa1t\xcb", clock() - start, event._values, low, b"\xa3max\xcb", high,
                               b"\xa4mean\xcb", mean, b"\xa3nan")
        tail = event._attrs_tail
        out.append(b"".join((event._head, pk(seq), event._middle, step_occurrence, pk(occurrence), floats, _NO_COUNTS,
                             event._attrs_head)) if tail is None else
                   b"".join((event._head, pk(seq), event._middle, step_occurrence, pk(occurrence), floats, _NO_COUNTS,
                             event._attrs_head, pk(field), tail)))
        seq += 1
    return out


def packer() -> msgpack.Packer:
    """The packer of prepared records: the bytes :func:`tftrace.format.packing.pack` gives."""
    return msgpack.Packer(use_bin_type=True, default=_default, autoreset=True)
