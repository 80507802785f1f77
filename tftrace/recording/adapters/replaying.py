"""Taking run A's value for a draw of run B, for the eager and tf.function adapters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from tftrace.recording.sink import EventSink

if TYPE_CHECKING:
    from tftrace.recording.random_ops import RandomOpInfo
    from tftrace.recording.replay import ReplaySource


class DrawReplay:
    """Run A's random values, recorded as B's (the Session adapter feeds them instead)."""

    def __init__(self, sink: EventSink, source: ReplaySource) -> None:
        self._sink = sink
        self.source = source

    def take(self, info: RandomOpInfo, shape: tuple[int, ...], dtype: str,
             drawn: Callable[[], Any]) -> np.ndarray | None:
        """A's value for this draw, recorded as B's; None (B's own ``drawn()`` value is
        recorded) for an initializer draw A has no match for."""
        taken = self.source.draw(info, shape, dtype, self._sink.step)
        if taken is None:
            self._sink.emit("random_op", info.name, drawn(), info.attrs())
            return None
        value, source = taken
        self._sink.emit("random_op", info.name, value, info.attrs(replayed_from=source.seq))
        return value
