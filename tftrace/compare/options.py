"""The choices of a diff that are not tolerances: which kinds and names to compare
(``--only`` kinds and name globs) and which names to leave out (``--ignore``)."""

from __future__ import annotations

import fnmatch
from typing import Iterable, Sequence

from tftrace.errors import UsageError
from tftrace.format.events import COMPARED_RULES
from tftrace.format.rules import normalize_name
from tftrace.format.schema import Event

#: The values of ``--only`` and the event kinds they select (stored and derived kinds).
KIND_CHOICES = {rules.choice: kind for kind, rules in COMPARED_RULES.items()}
_GLOB_CHARS = "*?["


def parse_only(only: str | Iterable[str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--only`` values split into event kinds and name globs (a word with ``*``, ``?``
    or ``[``): ``"snapshots,net/conv1/*"`` compares the snapshots named ``net/conv1/*``.
    No kind given: every kind."""
    words = [] if only is None else only.split(",") if isinstance(only, str) else list(only)
    globs = tuple(w.strip() for w in words if any(c in w for c in _GLOB_CHARS))
    rest = [w for w in words if not any(c in w for c in _GLOB_CHARS)]
    return parse_kinds(rest if rest else None), globs


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
