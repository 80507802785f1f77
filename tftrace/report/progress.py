"""The words of a progress bar on the terminal (tftrace/progress.py draws it)."""

from __future__ import annotations

from tftrace.format.progress import Work

#: What each long command is doing, as the bar's label.
LABELS = {"diff": "Comparing", "pack": "Packing", "calibrate": "Calibrating",
          "record": "Recording"}

#: What the items of each command are.
UNITS = {"diff": "pairs", "pack": "files", "calibrate": "pairs", "record": "events"}

_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def size(nbytes: float) -> str:
    """``1536000`` -> ``'1.5 MB'`` (decimal units, as disks and object stores count)."""
    value = float(nbytes)
    for unit in _BYTE_UNITS:
        if abs(value) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def progress_label(task: str) -> str:
    """The label in front of the bar: ``Comparing``."""
    return LABELS[task]


def progress_detail(work: Work, task: str, elapsed: float) -> str:
    """What is done and how fast, after the bar: ``12/40 pairs, 1.2 MB of 8.0 MB, 3.1 MB/s``.

    Without totals (a recording still running): ``120 events, 1.2 MB, 3.1 MB/s``.
    """
    unit = UNITS[task]
    items = f"{work.done:,}/{work.total:,} {unit}" if work.total is not None else \
        f"{work.done:,} {unit}"
    done = size(work.bytes_done)
    amount = f"{done} of {size(work.bytes_total)}" if work.bytes_total else done
    if elapsed <= 0:
        return f"{items}, {amount}"
    rate = f"{size(work.bytes_done / elapsed)}/s" if work.bytes_done else \
        f"{work.done / elapsed:,.0f} {unit}/s"
    return f"{items}, {amount}, {rate}"
