"""Aligning two token sequences (random ops by type, shape and dtype) with few gaps."""

from __future__ import annotations

from typing import Any, Sequence

#: How far ahead a gap of extra or missing random ops is looked for.
MAX_GAP = 64
#: How many following ops must line up to accept a gap.
LOOKAHEAD = 32


def align_sequences(a: Sequence[Any], b: Sequence[Any]) -> list[tuple[str, int, int, int, int]]:
    """Align two token sequences; difflib-style opcodes (equal, replace, delete, insert).

    Walks both sequences; at a mismatch it tries "one op differs", "B has d extra"
    and "B lacks d" (d up to ``MAX_GAP``) and keeps the choice after which the most
    following ops line up (up to ``LOOKAHEAD``, both ends reached counting as best),
    the smallest gap on a tie. Unlike difflib's longest-block matching this is not
    fooled by periodic sequences (uniform, normal, uniform, normal, ...), and it is
    linear for sequences that mostly agree.
    """
    ops: list[tuple[str, int, int, int, int]] = []

    def emit(tag: str, i1: int, i2: int, j1: int, j2: int) -> None:
        if ops and ops[-1][0] == tag and ops[-1][2] == i1 and ops[-1][4] == j1:
            ops[-1] = (tag, ops[-1][1], i2, ops[-1][3], j2)
        else:
            ops.append((tag, i1, i2, j1, j2))

    def run(i: int, j: int) -> int:
        n = 0
        while n < LOOKAHEAD and i + n < len(a) and j + n < len(b) and a[i + n] == b[j + n]:
            n += 1
        if i + n == len(a) and j + n == len(b):
            return LOOKAHEAD + 1  # both ends reached together: nothing left unexplained
        return n

    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            emit("equal", i, i + 1, j, j + 1)
            i, j = i + 1, j + 1
            continue
        # (score, -cost, tag, di, dj): a higher score, then a lower cost wins.
        best = (run(i + 1, j + 1), -1, "replace", 1, 1)
        for d in range(1, MAX_GAP + 1):
            if j + d <= len(b):
                best = max(best, (run(i, j + d), -d, "insert", 0, d))
            if i + d <= len(a):
                best = max(best, (run(i + d, j), -d, "delete", d, 0))
            if best[0] > LOOKAHEAD:
                break
        _, _, tag, di, dj = best
        emit(tag, i, i + di, j, j + dj)
        i, j = i + di, j + dj
    if i < len(a):
        emit("delete", i, len(a), j, j)
    if j < len(b):
        emit("insert", i, i, j, len(b))
    return ops
