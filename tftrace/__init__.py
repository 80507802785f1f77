"""tftrace: record TensorFlow runs into traces and find where two runs first diverge.

Importing tftrace never imports TensorFlow: reading and diffing traces work
without it. Recording imports TensorFlow when a recording starts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tftrace.errors import TftraceError
from tftrace.format.reader import Trace

if TYPE_CHECKING:
    pass

__version__ = "0.1.0"


def open(path: str | os.PathLike[str]) -> Trace:  # noqa: A001 - the public name in DESIGN.md
    """Open a trace for reading; needs no TensorFlow.

    Parameters
    ----------
    path : path-like
        A ``X.zarr`` directory or ``X.zarr.zip`` file.

    Returns
    -------
    Trace
        ``.environment``, ``.complete``, ``.events`` and ``.array(name, step=...)``.
    """
    from tftrace.format.reader import open_trace

    return open_trace(path)


__all__ = ["Trace", "TftraceError", "__version__", "open"]
