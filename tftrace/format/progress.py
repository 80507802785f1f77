"""How far a long task has come, handed to a progress callback.

The library (diff, pack, calibrate, a recording) reports :class:`Work` to a plain
callable; it never draws anything. The command line turns the calls into a progress
bar on a terminal (tftrace/progress.py), with the words from report/progress.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from tftrace.format.schema import Event


@dataclass(frozen=True)
class Work:
    """What a task has done so far.

    Attributes
    ----------
    done : int
        Items done: pairs of events (diff, calibrate), files (pack), events (record).
    total : int or None
        Items in all; None when not known in advance (a recording).
    bytes_done, bytes_total :
        Array bytes done, and in all (None when not known in advance).
    """

    done: int
    total: int | None
    bytes_done: int
    bytes_total: int | None

    @property
    def finished(self) -> bool:
        """True when every item is done (a task calls once more with this at its end)."""
        return self.total is not None and self.done >= self.total

    def ended(self) -> Work:
        """This work, now known to be all there is (a recording that stopped)."""
        return Work(self.done, self.done, self.bytes_done, self.bytes_done)


#: A progress callback: called with the work done so far, from the thread doing it.
ProgressCallback = Callable[[Work], None]

_ITEMSIZE = {"bool": 1, "string": 0}


def event_nbytes(event: Event | None) -> int:
    """Bytes of the value an event stores (0 when it stores none; strings count 0)."""
    if event is None or not event.stored or event.dtype is None or event.shape is None:
        return 0
    itemsize = _ITEMSIZE.get(event.dtype)
    if itemsize is None:
        digits = "".join(c for c in event.dtype if c.isdigit())
        itemsize = int(digits) // 8 if digits else 0
    return math.prod(event.shape) * itemsize


class Counter:
    """Counts items and bytes done towards known totals and reports each step."""

    def __init__(self, callback: ProgressCallback | None, total: int | None,
                 bytes_total: int | None) -> None:
        self.callback = callback
        self.total, self.bytes_total = total, bytes_total
        self.done = self.bytes_done = 0

    def advance(self, items: int = 1, nbytes: int = 0) -> None:
        self.done += items
        self.bytes_done += nbytes
        if self.callback is not None:
            self.callback(Work(self.done, self.total, self.bytes_done, self.bytes_total))
