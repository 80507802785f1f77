"""Field types, and the typed fields of the environment record.

A table says which keys tftrace reads and their types; keys not in a table
are carried along (readers ignore keys they do not know, docs/format.md) but must
still be plain metadata: nil, bool, int, float, str, bin, lists and maps with str
keys, nested at most ``limits.MAX_DEPTH`` deep, no msgpack extension types. The
writer checks the same rules before writing, so it never writes what the reader
refuses. (Issue 12 turns these tables into the typed event vocabulary.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from tftrace.errors import TraceFormatError
from tftrace.format.limits import MAX_DEPTH


class FieldError(TraceFormatError):
    """A field of a record has the wrong type; ``field`` is its dotted path."""

    def __init__(self, field: str, expected: str, got: str):
        super().__init__(f"{field}: expected {expected}, got {got}")
        self.field, self.expected, self.got = field, expected, got


@dataclass(frozen=True)
class FieldType:
    """A check and the words for what it expects ("a str or nil")."""

    expected: str
    check: Callable[[Any], bool]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


STR = FieldType("a str", lambda x: isinstance(x, str))
OPT_STR = FieldType("a str or nil", lambda x: x is None or isinstance(x, str))
INT = FieldType("an int", _is_int)
OPT_INT = FieldType("an int or nil", lambda x: x is None or _is_int(x))
BOOL = FieldType("a bool", lambda x: isinstance(x, bool))
NUMBER = FieldType("a number", _is_number)
OPT_NUMBER = FieldType("a number or nil", lambda x: x is None or _is_number(x))
MAP = FieldType("a map", lambda x: isinstance(x, dict))
OPT_MAP = FieldType("a map or nil", lambda x: x is None or isinstance(x, dict))
STR_LIST = FieldType("a list of str", lambda x: isinstance(x, list) and all(isinstance(s, str) for s in x))
INT_LIST = FieldType("a list of int", lambda x: isinstance(x, list) and all(_is_int(i) for i in x))
SEED = FieldType("a list of two ints or nil",
                 lambda x: x is None or (isinstance(x, list) and len(x) == 2 and all(_is_int(s) for s in x)))

#: The environment keys that tftrace's reports and comparisons read.
ENVIRONMENT_TYPES: dict[str, FieldType] = {
    "tftrace_version": OPT_STR, "tensorflow_version": OPT_STR, "tensorflow": OPT_STR,
    "keras_version": OPT_STR, "python_version": OPT_STR, "numpy_version": OPT_STR,
    "platform": OPT_STR, "host": OPT_STR, "devices": STR_LIST, "command_line": STR_LIST,
    "seed": OPT_INT, "seed_mode": OPT_STR, "capture": STR, "eager": BOOL,
    "start_time": NUMBER, "end_time": NUMBER, "steps": OPT_INT, "error": OPT_STR,
    "versions": OPT_MAP, "replay": OPT_MAP, "capture_levels": OPT_MAP, "distribution": OPT_MAP,
}

#: The ``replay`` map of the environment (docs/replay.md, "What the trace says").
REPLAY_TYPES: dict[str, FieldType] = {
    "source": STR, "source_host": OPT_STR, "source_tensorflow": OPT_STR,
    "random": BOOL, "variables": BOOL, "random_ops_in_source": INT,
    "random_ops_replayed": INT, "initializer_draws_kept": INT, "variables_replayed": INT,
    "variables_not_replayed": STR_LIST, "error": OPT_STR,
    "rename": FieldType("a list of maps", lambda x: isinstance(x, list) and all(isinstance(r, dict) for r in x)),
}


def check_environment(environment: Any, where: str = "environment") -> dict[str, Any]:
    """Validate (a part of) the environment record. Raises :class:`FieldError`."""
    check_plain(environment, where)
    if not isinstance(environment, dict):
        raise FieldError(where, "a map", type_name(environment))
    _check_table(environment, ENVIRONMENT_TYPES, where)
    replay = environment.get("replay")
    if isinstance(replay, dict):
        _check_table(replay, REPLAY_TYPES, f"{where}.replay")
    return environment


def _check_table(values: Mapping[str, Any], table: Mapping[str, FieldType], where: str) -> None:
    for key, field_type in table.items():
        if key in values and not field_type.check(values[key]):
            raise FieldError(f"{where}.{key}", field_type.expected, describe(values[key]))


def check_plain(value: Any, where: str, depth: int = 0) -> None:
    """Plain metadata only: no extension types, str keys, at most ``MAX_DEPTH`` levels."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return
    if depth >= MAX_DEPTH:
        raise FieldError(where, f"at most {MAX_DEPTH} levels of nested lists and maps",
                         "deeper nesting")
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(f"{where} key {key!r}", "str keys", f"a {type_name(key)} key")
            check_plain(item, f"{where}.{key}", depth + 1)
        return
    raise FieldError(where, "nil, bool, int, float, str, bin, list or map", type_name(value))


def type_name(value: Any) -> str:
    """A value's type in msgpack's words ("a msgpack extension (Timestamp)" for ext types)."""
    name = type(value).__name__
    if name in ("ExtType", "Timestamp"):
        return f"a msgpack extension ({name})"
    return {"NoneType": "nil", "dict": "map", "bytes": "bin"}.get(name, name)


def describe(value: Any) -> str:
    """A short description of a wrong value: its type, and the value when it is short."""
    text = repr(value) if isinstance(value, (int, float, bool, str)) or value is None else ""
    return f"{type_name(value)} {text}" if text and len(text) <= 40 else type_name(value)
