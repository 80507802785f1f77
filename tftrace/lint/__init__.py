"""One-trace lints (``tftrace check``): things that weaken or break an equivalence test.

Reads only event digests and statistics, never an array, and never imports TensorFlow.
The result is data (codes, names, numbers); report/check.py words it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tftrace.lint.checks import check
    from tftrace.lint.result import CheckResult, Finding

__all__ = ["CheckResult", "Finding", "check"]


def __getattr__(name: str) -> Any:  # the trace reader loads on first use, not on import
    if name == "check":
        from tftrace.lint.checks import check

        return check
    if name in ("CheckResult", "Finding"):
        from tftrace.lint import result

        return getattr(result, name)
    raise AttributeError(f"module 'tftrace.lint' has no attribute {name!r}")
