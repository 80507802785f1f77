"""Compare traces: pairing, metrics, tolerances and the result object. Never imports
TensorFlow; its names load on first use, so ``import tftrace.compare.metrics`` reads no trace."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tftrace.compare.divergence import diff
    from tftrace.compare.result import DiffResult, PairResult
    from tftrace.compare.tolerance import Tolerance, Tolerances
    from tftrace.format.rules import RenameRule

_HOMES = {"DiffResult": "tftrace.compare.result", "PairResult": "tftrace.compare.result",
          "RenameRule": "tftrace.format.rules", "Tolerance": "tftrace.compare.tolerance",
          "Tolerances": "tftrace.compare.tolerance", "diff": "tftrace.compare.divergence"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'tftrace.compare' has no attribute {name!r}")
