"""The records of a trace: what each key means, validated on the way in and out.

Records are frozen dataclasses with ``to_dict`` / ``from_dict``; the msgpack
layer only ever sees the plain dicts. ``docs/format.md`` documents every key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from tftrace.errors import TraceFormatError, UsageError
from tftrace.format import limits
# EVENT_KINDS and EventKind are the vocabulary's (format/events.py), re-exported with Event.
from tftrace.format.events import (ATTRS, EVENT_KINDS, EventAttrs, EventKind, as_attrs,  # noqa: F401
                                   attrs_from_dict, event_kind)
from tftrace.format.fields import FieldError, describe

FORMAT_NAME = "tftrace"
#: 2: the crc32c-tree-4MiB content digest; 3: the layer, op, gradient and optimizer kinds;
#: 4: ``value`` records (a value stored after its event) and the ``stopped`` run status, of
#: a recording compared against another trace (docs/format.md, "The format field and the
#: version rule"); 5: the compact log (deflated segments, event records without what the
#: reader rebuilds: format/compact_log.py), written where 4 was; 6: packed values (the
#: values of the captured kinds appended to one pack per log segment, format/value_packs.py),
#: with the plain log of versions 1-4. The newest version this reader reads.
FORMAT_VERSION = 6
#: What a recording against a trace writes (``late_values``): the compact log, every value
#: its own array (its values are stored after their events, as ``value`` records).
COMPACT_FORMAT_VERSION = 5
#: Versions this reader understands. Version 1 differs only in the digest scheme its
#: writer used (crc32-tree-4MiB or older), which the digest string names, so it reads as
#: is; versions 1 and 2 hold none of the captured kinds, versions 1 to 3 no value record,
#: versions 1 to 4 and 6 a plain log, versions 1 to 5 no pack.
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)


def compact_log(version: int) -> bool:
    """Whether a trace of this format version stores the compact log (format/compact_log.py)."""
    return version == COMPACT_FORMAT_VERSION


#: Logical dtypes (TensorFlow's names) that a trace stores, in a fixed order.
DTYPES = (
    "float16", "bfloat16", "float32", "float64",
    "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "bool", "complex64", "complex128", "string",
)

# Bounds on metadata read from disk (a trace is untrusted input): see limits.py.
MAX_NAME_CHARS = limits.MAX_NAME_CHARS
MAX_RANK = limits.MAX_RANK
MAX_ATTRS_BYTES = limits.MAX_ATTRS_BYTES
#: A digest string: "<scheme>:<hex>", at most this long.
MAX_DIGEST_CHARS = 1024


def parse_format(meta: Mapping[str, Any], path: str) -> int:
    """Validate the format name and version of a store's root attributes.

    Returns the version. Raises :class:`TraceFormatError` for a foreign or newer store.
    """
    name = meta.get("format")
    if name != FORMAT_NAME:
        raise TraceFormatError(
            f"{path}: not a tftrace trace (expected format {FORMAT_NAME!r}, got {name!r})"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TraceFormatError(f"{path}: expected an integer format_version, got {version!r}")
    if version > FORMAT_VERSION:
        raise TraceFormatError(
            f"{path}: trace format version {version} is newer than this tftrace reads "
            f"(up to {FORMAT_VERSION}); upgrade tftrace"
        )
    if version not in READABLE_VERSIONS:
        raise TraceFormatError(
            f"{path}: expected trace format version in {READABLE_VERSIONS}, got {version}"
        )
    return version


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary statistics of one array.

    For complex arrays min/max/mean describe the magnitudes; for bool they count
    True as 1; for strings and empty arrays they are ``None``.
    """

    size: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    nan_count: int = 0
    inf_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "min": self.min, "max": self.max, "mean": self.mean,
                "nan": self.nan_count, "inf": self.inf_count}

    @classmethod
    def from_dict(cls, d: Any) -> Stats:
        """Validate a ``stats`` map; raises :class:`FieldError` naming the key."""
        if not isinstance(d, Mapping):
            raise FieldError("stats", "a map or nil", describe(d))
        return cls(size=_count(d.get("size"), "stats.size"), min=_opt_float(d.get("min"), "stats.min"),
                   max=_opt_float(d.get("max"), "stats.max"), mean=_opt_float(d.get("mean"), "stats.mean"),
                   nan_count=_count(d.get("nan", 0), "stats.nan"),
                   inf_count=_count(d.get("inf", 0), "stats.inf"))


@dataclass(frozen=True)
class ValueSummary:
    """A value known only by its shape, dtype and statistics, computed where the value
    was (a ``tf.function``'s graph computes a layer's or op's statistics itself, so the
    tensor never leaves it). Written as an event with statistics and no content digest."""

    shape: tuple[int, ...]
    dtype: str
    stats: Stats


#: How a packed value's bytes are stored in its pack: as they are, or one zstd frame.
PACK_CODECS = ("raw", "zstd")


@dataclass(frozen=True, slots=True)
class PackedValue:
    """Where a packed value's bytes lie in its pack (format 6): ``length`` bytes from byte
    ``offset`` of ``<array_key>/c.0``, stored with ``codec`` (one of ``PACK_CODECS``)."""

    offset: int
    length: int
    codec: str

    def to_list(self) -> list[Any]:
        return [self.offset, self.length, self.codec]

    @classmethod
    def from_list(cls, raw: Any) -> PackedValue:
        """Validate a ``pack`` field; raises :class:`FieldError`."""
        if (type(raw) is not list or len(raw) != 3 or not _is_count(raw[0]) or not _is_count(raw[1])
                or raw[2] not in PACK_CODECS or raw[0] + raw[1] > limits.MAX_ARRAY_BYTES):
            raise FieldError("pack", f"[offset, length, codec] with a codec in {PACK_CODECS} and "
                             f"offset + length at most {limits.MAX_ARRAY_BYTES}", describe(raw))
        return cls(int(raw[0]), int(raw[1]), str(raw[2]))


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the ordered event log: a light digest, never the array itself.

    Attributes
    ----------
    seq : int
        Position in the log, from 0, gap-free.
    kind : EventKind
        What the event is (a str: its stored name, one of ``EVENT_KINDS``).
    name : str
        The user-visible name (variable name, endpoint name, op name).
    step : int
        The training step (``rec.next_step()`` count) the event belongs to.
    occurrence : int
        How many earlier events had the same (kind, name, step).
    time : float
        Seconds since the start of the recording.
    shape, dtype :
        Of the value, when the event carries one.
    stats, digest :
        Summary statistics and content digest of the value.
    array_key : str or None
        Where the values are stored inside the trace (an array ``arrays/<seq>``, or a
        pack ``packs/<n>``); ``None`` when only statistics were captured.
    attrs : EventAttrs
        The typed fields of its kind (format/events.py, docs/format.md): ``trainable``
        for variables, ``op_type`` and ``seed`` for random ops, ``call_site`` for all.
        A plain map given here is validated into them.
    packed : PackedValue or None
        Where in its pack a packed value lies (``array_key`` names the pack).
    """

    seq: int
    kind: EventKind
    name: str
    step: int = 0
    occurrence: int = 0
    time: float = 0.0
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    stats: Stats | None = None
    digest: str | None = None
    array_key: str | None = None
    attrs: EventAttrs = field(default_factory=dict)  # type: ignore[assignment]
    packed: PackedValue | None = None

    def __post_init__(self) -> None:
        # Writers and the reader pass typed values; a plain kind or map (tests, tools) is checked.
        if type(self.kind) is not EventKind:
            object.__setattr__(self, "kind", event_kind(self.kind))
        if type(self.attrs) not in _ATTRS_CLASSES:  # (an ABC isinstance costs more, per event)
            object.__setattr__(self, "attrs", as_attrs(self.kind, self.attrs))

    @property
    def has_value(self) -> bool:
        return self.dtype is not None

    @property
    def stored(self) -> bool:
        """True when the values themselves (not only statistics) are in the trace."""
        return self.array_key is not None

    @property
    def call_site(self) -> str | None:
        return self.attrs.call_site

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"seq": self.seq, "kind": self.kind, "name": self.name,
                             "step": self.step, "occ": self.occurrence, "t": self.time}
        if self.dtype is not None:
            d["shape"] = list(self.shape or ())
            d["dtype"] = self.dtype
            d["stats"] = self.stats.to_dict() if self.stats else None
            d["digest"] = self.digest
            d["array"] = self.array_key
            if self.packed is not None:
                d["pack"] = self.packed.to_list()
        if self.attrs:
            d["attrs"] = self.attrs.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Event:
        """Validate an event record: every key's type, and the attrs of its kind.

        Raises :class:`TraceFormatError` naming the event (``event #seq 'name'``) and the field.
        """
        if not isinstance(d, dict):
            raise TraceFormatError(f"expected an event record map, got {describe(d)}")
        try:
            return cls._parse(d)
        except FieldError as exc:
            seq, name = d.get("seq"), d.get("name")
            who = (f"event #{seq}" if _is_count(seq) else "event") + \
                (f" {_short_name(name)!r}" if isinstance(name, str) else "")
            raise TraceFormatError(f"{who}: {exc}") from None

    @classmethod
    def _parse(cls, d: dict[str, Any]) -> Event:
        # exact type checks: msgpack gives exact ints and strs, and a trace holds millions of events
        seq = d.get("seq")
        if type(seq) is not int or seq < 0:
            raise FieldError("seq", "a non-negative int", describe(seq))
        kind = event_kind(d.get("kind"))
        name = d.get("name")
        if type(name) is not str:
            raise FieldError("name", "a str", describe(name))
        if len(name) > MAX_NAME_CHARS:
            raise FieldError("name", f"at most {MAX_NAME_CHARS} characters", f"{len(name)} characters")
        step, occurrence, t = d.get("step", 0), d.get("occ", 0), d.get("t", 0.0)
        if type(step) is not int or step < 0:
            raise FieldError("step", "a non-negative int", describe(step))
        if type(occurrence) is not int or occurrence < 0:
            raise FieldError("occ", "a non-negative int", describe(occurrence))
        if type(t) is not float and type(t) is not int:
            raise FieldError("t", "a number", describe(t))
        dtype = d.get("dtype")
        shape: tuple[int, ...] | None = None
        stats = digest = array_key = packed = None
        if dtype is not None:
            if type(dtype) is not str or dtype not in _DTYPES:
                raise FieldError("dtype", f"one of {', '.join(DTYPES)}", describe(dtype))
            dtype = _DTYPES[dtype]
            shape = _shape(d.get("shape"), dtype)
            if d.get("stats") is not None:
                stats = Stats.from_dict(d["stats"])
                if stats.size != math.prod(shape):
                    raise FieldError("stats.size", f"{math.prod(shape)} (the number of elements of the shape)",
                                     str(stats.size))
            digest = d.get("digest")
            if digest is not None and not _is_digest(digest):
                raise FieldError("digest", f"a str '<scheme>:<hex>' of at most {MAX_DIGEST_CHARS} characters",
                                 describe(digest))
            array_key = d.get("array")
            if "pack" in d:
                packed = PackedValue.from_list(d["pack"])
                if not _is_key(array_key, "packs/"):
                    raise FieldError("array", "a pack key like 'packs/3' beside a pack field",
                                     describe(array_key))
            elif array_key is not None and not _is_key(array_key, "arrays/"):
                raise FieldError("array", "an array key like 'arrays/12' or nil", describe(array_key))
        attrs = attrs_from_dict(kind, d.get("attrs"))
        return cls(seq=seq, kind=kind, name=name, step=step, occurrence=occurrence, time=float(t),
                   shape=shape, dtype=dtype, stats=stats, digest=digest,
                   array_key=array_key, attrs=attrs, packed=packed)


def check_name(name: Any, what: str = "event name", *, allow_empty: bool = False) -> str:
    """``name`` if a trace can store it and every reader read it back; else UsageError.

    A name must be a str (non-empty unless ``allow_empty``) of at most ``MAX_NAME_CHARS``
    characters that encodes to UTF-8 (no lone surrogates, which msgpack cannot write).
    """
    if not isinstance(name, str) or not (name or allow_empty):
        raise UsageError(f"{what} must be a non-empty string; got {name!r:.80}")
    if len(name) > MAX_NAME_CHARS:
        raise UsageError(f"{what} {name[:40]!r}... is {len(name)} characters long; expected at "
                         f"most {MAX_NAME_CHARS} (what a trace reader accepts); choose a shorter name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(f"{what} {name!r:.80} is not valid Unicode text: {exc.reason} at "
                         f"character {exc.start}; expected a name UTF-8 can encode") from None
    return name


_DTYPES = {d: d for d in DTYPES}
_ATTRS_CLASSES = frozenset(ATTRS.values())


def _shape(raw: Any, dtype: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_RANK:
        raise FieldError("shape", f"a list of at most {MAX_RANK} ints", describe(raw))
    shape = tuple(_count(n, "shape") for n in raw)
    itemsize = 1 if dtype == "string" else _ITEMSIZE[dtype]
    if math.prod(shape) * itemsize > limits.MAX_ARRAY_BYTES:
        raise FieldError("shape", f"at most {limits.MAX_ARRAY_BYTES} bytes of values",
                         f"{list(shape)} of {dtype}")
    return shape


def _is_digest(value: Any) -> bool:
    return (isinstance(value, str) and len(value) <= MAX_DIGEST_CHARS and ":" in value
            and value.isascii() and value.isprintable())


def _short_name(name: str) -> str:
    return name if len(name) <= 80 else name[:77] + "..."


def array_key_for(seq: int) -> str:
    """The store key of an event's array: derived from its sequence number, never its name."""
    return f"arrays/{seq}"


def pack_key_for(index: int) -> str:
    """The store key of the pack of log segment ``index`` (format 6)."""
    return f"packs/{index}"


def _is_key(key: Any, head: str) -> bool:
    if not isinstance(key, str) or not key.startswith(head):
        return False
    tail = key[len(head):]
    return tail.isdigit() and tail.isascii() and len(tail) <= 20


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(value: Any, what: str) -> int:
    if not _is_count(value):
        raise FieldError(what, "a non-negative int", describe(value))
    return int(value)


def _opt_float(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise FieldError(what, "a number or nil", describe(value))


_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "int16": 2,
             "int32": 4, "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
             "bool": 1, "complex64": 8, "complex128": 16}
