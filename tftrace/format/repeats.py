"""Which events of one trace hold the same content step after step, from their content
digests alone (no array is read): a value that never changes, a random op whose draws are
equal every step. Shared by the diagnosis of a diff (compare/explain/) and ``check`` (lint/).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterable, Sequence

from tftrace.format.digest import digests_prove_equal
from tftrace.format.events import RandomOpAttrs
from tftrace.format.rules import normalize_name
from tftrace.format.schema import Event


def frozen_digests(events: Sequence[Event]) -> bool | None:
    """Whether the events (one name, in step order) all hold the same content (digests
    and statistics prove it); None with fewer than two or without digests."""
    if len(events) < 2 or any(ev.digest is None for ev in events):
        return None
    return all(digests_prove_equal(events[0], ev) for ev in events[1:])


def series_by_name(events: Iterable[Event], kinds: Sequence[str],
                   pattern: re.Pattern[str] | None = None) -> dict[str, list[Event]]:
    """Events of the kinds (occurrence 0), by normalized name, in step order."""
    out: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.kind in kinds and ev.occurrence == 0 and (pattern is None or pattern.search(ev.name)):
            out[normalize_name(ev.name)].append(ev)
    return out


def step_random_ops(events: Iterable[Event]) -> list[Event]:
    """Random ops drawn by the computation (not by variable initializers)."""
    return [ev for ev in events if isinstance(ev.attrs, RandomOpAttrs) and not ev.attrs.initializer]


def cached_random_ops(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Random ops (by name) drawn at two steps or more with equal values every time."""
    by_name: dict[str, list[Event]] = defaultdict(list)
    for ev in step_random_ops(events):
        by_name[ev.name].append(ev)
    out = []
    for name, draws in by_name.items():
        steps = sorted({ev.step for ev in draws})
        if len(steps) >= 2 and frozen_digests(draws):
            out.append({"name": name, "steps": steps, "seqs": [ev.seq for ev in draws]})
    return out
