"""The choices of a diff that are not tolerances: which kinds to compare (``--only``)."""

from __future__ import annotations

from typing import Iterable

from tftrace.errors import UsageError
from tftrace.format.events import RULES

#: The values of ``--only`` and the event kinds they select.
KIND_CHOICES = {rules.choice: kind.value for kind, rules in RULES.items()}


def parse_kinds(only: str | Iterable[str] | None) -> tuple[str, ...]:
    """Event kinds from ``--only`` values (``"variables,random"`` or a list)."""
    if only is None:
        return tuple(KIND_CHOICES.values())
    words = only.split(",") if isinstance(only, str) else list(only)
    kinds: list[str] = []
    for word in (w.strip() for w in words):
        kind = KIND_CHOICES.get(word) or (word if word in KIND_CHOICES.values() else None)
        if kind is None:
            raise UsageError(f"expected --only values among {', '.join(KIND_CHOICES)}, "
                             f"got {word!r}")
        if kind not in kinds:
            kinds.append(kind)
    if not kinds:
        raise UsageError(f"expected at least one of {', '.join(KIND_CHOICES)} for --only")
    return tuple(k for k in KIND_CHOICES.values() if k in kinds)
