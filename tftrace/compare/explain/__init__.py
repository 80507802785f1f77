"""Explain a divergence: how the values differ (relationships) and which migration pitfall
it looks like, from trace evidence only (pure numpy, never TensorFlow).

``relations`` tests one aligned value pair (scaled, offset, sign-flip, permuted,
lower-precision, masked, noise); ``series`` the values of one name over steps (lagged,
stale); ``pitfalls`` the catalogue of TF1 -> TF2 and cross-version pitfalls; ``evidence``
reads what they need, lazily and boundedly; ``diagnose`` puts them together for a diff.
Results are codes and numbers (``Diagnosis``); report/diagnosis.py writes the sentences.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tftrace.compare.explain.diagnose import diagnose_result
    from tftrace.compare.explain.findings import CODES, Diagnosis

__all__ = ["CODES", "Diagnosis", "diagnose_result"]


def __getattr__(name: str) -> Any:
    # Lazy, like the other compare/ packages: importing the package loads no trace reader.
    if name in ("CODES", "Diagnosis"):
        from tftrace.compare.explain import findings

        return getattr(findings, name)
    if name == "diagnose_result":
        from tftrace.compare.explain.diagnose import diagnose_result

        return diagnose_result
    raise AttributeError(name)
