"""The Python call site of the user's code that caused an event.

Walks the stack outwards and returns the first frame that is not TensorFlow,
Keras, tf-slim's layer library, tftrace itself or the Python standard library,
formatted ``"file:line in function"``.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import FrameType

_SEP = os.sep
_INTERNAL_FRAGMENTS = tuple(
    f"{_SEP}{part}{_SEP}".replace("/", _SEP)
    for part in ("tensorflow", "keras", "tf_keras", "tf_slim/layers", "tf_slim/ops",
                 "tftrace/recording", "absl", "numpy", "wrapt", "optree")
) + ("__autograph_generated", f"tftrace{_SEP}__init__.py", f"tftrace{_SEP}keras.py", "<frozen ")
_STDLIB = tuple(
    p for p in {sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("platstdlib")} if p
)


def _is_internal(filename: str) -> bool:
    if any(fragment in filename for fragment in _INTERNAL_FRAGMENTS):
        return True
    return filename.startswith(_STDLIB) and "site-packages" not in filename


def user_call_site(skip: int = 1) -> str | None:
    """``"file:line in function"`` of the innermost frame of user code, or None."""
    frame: FrameType | None = sys._getframe(skip)
    while frame is not None:
        code = frame.f_code
        if not _is_internal(code.co_filename):
            return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back
    return None


def producer_call_site(tensor: object) -> str | None:
    """The user's line that created a graph tensor's op (its creation traceback), or None.

    A tensor handed to ``rec.endpoint`` from a helper or a wrapper was usually made
    elsewhere; the op's traceback says where. Eager values have no op: None.
    """
    try:
        frames = list(getattr(getattr(tensor, "op"), "traceback"))
    except Exception:  # noqa: BLE001 - eager tensors, numpy values, foreign objects
        return None
    for frame in reversed(frames):  # innermost first
        filename = getattr(frame, "filename", None)
        lineno = getattr(frame, "lineno", None)
        if isinstance(filename, str) and not _is_internal(filename):
            return f"{filename}:{lineno} in {getattr(frame, 'name', '?')}"
    return None
