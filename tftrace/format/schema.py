"""The records of a trace: what each key means, validated on the way in and out.

Records are frozen dataclasses with ``to_dict`` / ``from_dict``; the msgpack
layer only ever sees the plain dicts. ``docs/format.md`` documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tftrace.errors import TraceFormatError, UsageError

FORMAT_NAME = "tftrace"
FORMAT_VERSION = 1
#: Versions this reader understands; older ones are migrated on read (see migrate.py).
READABLE_VERSIONS = (1,)

EVENT_KINDS = ("variable", "random_op", "endpoint", "snapshot")

#: Logical dtypes (TensorFlow's names) that a trace stores, in a fixed order.
DTYPES = (
    "float16", "bfloat16", "float32", "float64",
    "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "bool", "complex64", "complex128", "string",
)

# Bounds on metadata read from disk: a trace is untrusted input.
MAX_NAME_CHARS = 1 << 16
MAX_RANK = 64
MAX_ATTRS_BYTES = 1 << 20


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


@dataclass(frozen=True)
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
        if not isinstance(d, Mapping):
            raise TraceFormatError(f"expected a stats mapping, got {type(d).__name__}")
        return cls(size=_int(d.get("size"), "stats.size"), min=_opt_float(d.get("min")),
                   max=_opt_float(d.get("max")), mean=_opt_float(d.get("mean")),
                   nan_count=_int(d.get("nan", 0), "stats.nan"),
                   inf_count=_int(d.get("inf", 0), "stats.inf"))


@dataclass(frozen=True)
class Event:
    """One entry of the ordered event log: a light digest, never the array itself.

    Attributes
    ----------
    seq : int
        Position in the log, from 0, gap-free.
    kind : str
        One of ``EVENT_KINDS``.
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
        Where the values are stored inside the trace; ``None`` when only statistics
        were captured.
    attrs : mapping
        Kind-specific fields (see docs/format.md), e.g. ``trainable`` for variables,
        ``op_type`` and ``seed`` for random ops, ``call_site`` for all.
    """

    seq: int
    kind: str
    name: str
    step: int = 0
    occurrence: int = 0
    time: float = 0.0
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    stats: Stats | None = None
    digest: str | None = None
    array_key: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_value(self) -> bool:
        return self.dtype is not None

    @property
    def stored(self) -> bool:
        """True when the values themselves (not only statistics) are in the trace."""
        return self.array_key is not None

    @property
    def call_site(self) -> str | None:
        site = self.attrs.get("call_site")
        return site if isinstance(site, str) else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"seq": self.seq, "kind": self.kind, "name": self.name,
                             "step": self.step, "occ": self.occurrence, "t": self.time}
        if self.dtype is not None:
            d["shape"] = list(self.shape or ())
            d["dtype"] = self.dtype
            d["stats"] = self.stats.to_dict() if self.stats else None
            d["digest"] = self.digest
            d["array"] = self.array_key
        if self.attrs:
            d["attrs"] = dict(self.attrs)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Event:
        if not isinstance(d, Mapping):
            raise TraceFormatError(f"expected an event mapping, got {type(d).__name__}")
        kind = d.get("kind")
        if kind not in EVENT_KINDS:
            raise TraceFormatError(f"expected event kind in {EVENT_KINDS}, got {kind!r}")
        name = d.get("name")
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
            raise TraceFormatError(f"expected an event name string, got {type(name).__name__}")
        dtype = d.get("dtype")
        shape: tuple[int, ...] | None = None
        stats = None
        array_key = None
        if dtype is not None:
            if dtype not in DTYPES:
                raise TraceFormatError(f"expected dtype in {DTYPES}, got {dtype!r}")
            raw_shape = d.get("shape")
            if not isinstance(raw_shape, (list, tuple)) or len(raw_shape) > MAX_RANK:
                raise TraceFormatError(f"expected a shape list, got {raw_shape!r}")
            shape = tuple(_int(n, "shape") for n in raw_shape)
            if any(n < 0 for n in shape):
                raise TraceFormatError(f"expected non-negative dimensions, got {shape}")
            if d.get("stats") is not None:
                stats = Stats.from_dict(d["stats"])
            array_key = d.get("array")
            if array_key is not None and not _is_array_key(array_key):
                raise TraceFormatError(f"expected an array key like 'arrays/12', got {array_key!r}")
        attrs = d.get("attrs", {})
        if not isinstance(attrs, Mapping):
            raise TraceFormatError(f"expected event attrs mapping, got {type(attrs).__name__}")
        digest = d.get("digest")
        t = d.get("t", 0.0)
        return cls(seq=_int(d.get("seq"), "seq"), kind=kind, name=name,
                   step=_int(d.get("step", 0), "step"), occurrence=_int(d.get("occ", 0), "occ"),
                   time=float(t) if isinstance(t, (int, float)) else 0.0,
                   shape=shape, dtype=dtype, stats=stats,
                   digest=digest if isinstance(digest, str) else None,
                   array_key=array_key, attrs=attrs)


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


def array_key_for(seq: int) -> str:
    """The store key of an event's array: derived from its sequence number, never its name."""
    return f"arrays/{seq}"


def _is_array_key(key: Any) -> bool:
    if not isinstance(key, str) or not key.startswith("arrays/"):
        return False
    tail = key[len("arrays/"):]
    return tail.isdigit() and tail.isascii()


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TraceFormatError(f"expected an integer {what}, got {value!r}")
    return value


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TraceFormatError(f"expected a number or nil, got {value!r}")
