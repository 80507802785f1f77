"""One patch/restore helper for every TensorFlow (and Keras) hook tftrace installs.

A capture mechanism replaces a function or method while a recording is active: it calls
:meth:`Patches.patch` for each, and :meth:`Patches.restore` puts every original back, in
reverse order, when the recording stops. A replacement something else has since
replaced again is left alone (restoring it would remove the other patch): only our own
patch is undone. State that is not an attribute (a Keras global) is undone by a callback
given to :meth:`Patches.on_restore`.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

_UNSET = object()


class Patches:
    """The patches of one capture mechanism, undone together."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def patch(self, owner: Any, attr: str, replacement: Any, *, wraps: bool = True) -> Any:
        """Set ``owner.attr`` to ``replacement``; returns the original.

        ``wraps``: mark the replacement (a function) with ``__wrapped__`` = the original,
        as ``functools.wraps`` does, so tools that unwrap still find TensorFlow's own.
        """
        original = owner.__dict__.get(attr, _UNSET) if isinstance(owner, type) else getattr(owner, attr, _UNSET)
        if wraps and callable(replacement) and original is not _UNSET:
            try:
                replacement.__wrapped__ = original
            except (AttributeError, TypeError):
                pass
        setattr(owner, attr, replacement)

        def undo() -> None:
            current = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
            if current is not replacement:
                return  # patched again by someone else since: theirs stays
            if original is _UNSET:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)

        with self._lock:
            self._undo.append(undo)
        return None if original is _UNSET else original

    def on_restore(self, undo: Callable[[], None]) -> None:
        """Run ``undo`` when the patches are restored (in reverse order with the rest)."""
        with self._lock:
            self._undo.append(undo)

    def restore(self) -> None:
        """Undo every patch, the last one first."""
        with self._lock:
            undo, self._undo = self._undo, []
        for step in reversed(undo):
            step()

    def __len__(self) -> int:
        return len(self._undo)
