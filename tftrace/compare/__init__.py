"""Compare traces: pairing, metrics, tolerances and the result object. Never imports TensorFlow."""

from __future__ import annotations

from tftrace.format.rules import RenameRule
from tftrace.compare.divergence import diff
from tftrace.compare.result import DiffResult, PairResult
from tftrace.compare.tolerance import Tolerance, Tolerances

__all__ = ["DiffResult", "PairResult", "RenameRule", "Tolerance", "Tolerances", "diff"]
