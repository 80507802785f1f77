"""Reading ahead: the next blocks of two arrays are read in a thread while the current
ones are compared (decompression and numpy release the GIL)."""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterator, TypeVar

_T = TypeVar("_T")


def prefetched(blocks: Iterator[_T], depth: int = 2) -> Iterator[_T]:
    """Read the next blocks in a thread while the current one is compared.

    Decompression and numpy both release the GIL, so on two cores reading overlaps
    comparing; at most ``depth + 1`` block pairs are alive, which keeps memory bounded.
    """
    pending: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in blocks:
                while not stop.is_set():
                    try:
                        pending.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            pending.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            pending.put(_Failure(exc))

    thread = threading.Thread(target=produce, name="tftrace-diff-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = pending.get()
            if item is done:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
