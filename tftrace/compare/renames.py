"""Suggesting a rename rule when many variable names differ by one scope prefix."""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from tftrace.format.events import EventKind
from tftrace.format.rules import RenameRule, normalize_name, renamed
from tftrace.format.schema import Event

#: Suggesting a rename compares unmatched names pairwise; beyond this it is skipped.
MAX_SUGGESTION_NAMES = 2000


def suggest_renames(events_a: Sequence[Event], events_b: Sequence[Event],
                    rename: Sequence[RenameRule] = ()) -> tuple[RenameRule, ...]:
    """A rename rule for B that would match at least half of the unmatched variables.

    Looks for the prefix difference (whole ``/``-separated scopes) that explains the
    most unmatched pairs, e.g. B ``model/dense/kernel`` vs A ``dense/kernel`` gives
    ``^model/=``.
    """
    names_a = {normalize_name(e.name) for e in events_a if e.kind is EventKind.VARIABLE}
    names_b = {renamed(e.name, rename) for e in events_b if e.kind is EventKind.VARIABLE}
    only_a = sorted(names_a - names_b)
    only_b = sorted(names_b - names_a)
    if not only_a or not only_b or len(only_a) * len(only_b) > MAX_SUGGESTION_NAMES ** 2:
        return ()
    candidates: Counter[tuple[str, str]] = Counter()
    for name_b in only_b:
        parts_b = name_b.split("/")
        for name_a in only_a:
            parts_a = name_a.split("/")
            common = 0
            while (common < min(len(parts_a), len(parts_b))
                   and parts_a[-1 - common] == parts_b[-1 - common]):
                common += 1
            if common == 0:
                continue
            prefix_a = "/".join(parts_a[:len(parts_a) - common])
            prefix_b = "/".join(parts_b[:len(parts_b) - common])
            candidates[(prefix_b + "/" if prefix_b else "", prefix_a + "/" if prefix_a else "")] += 1
    best: tuple[int, RenameRule] | None = None
    unmatched_a = set(only_a)
    for (prefix_b, prefix_a), _ in candidates.most_common(10):
        rule = RenameRule("^" + re.escape(prefix_b), prefix_a.replace("\\", "\\\\"))
        fixed = sum(1 for name in only_b if rule.apply(name) in unmatched_a)
        if best is None or fixed > best[0]:
            best = (fixed, rule)
    if best is None or best[0] == 0 or best[0] * 2 < min(len(only_a), len(only_b)):
        return ()
    return (best[1],)
