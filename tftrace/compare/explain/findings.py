"""What a diagnosis is: a code, and the evidence (names, numbers) that supports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

#: How A's and B's values differ (docs/diagnosis.md).
RELATIONSHIPS = ("scaled", "offset", "sign-flip", "permuted", "lagged", "stale",
                 "lower-precision", "masked", "noise")
#: Migration pitfalls recognised from the evidence (docs/diagnosis.md).
PITFALLS = ("training-flag", "cached-random", "constant-learning-rate", "new-variables-per-call",
            "missing-regularization", "keep-prob-vs-rate", "default-epsilon", "l2-halving",
            "data-format", "grappler-arithmetic", "environment")
#: Said when the evidence needed was not in the traces (statistics only, too large).
UNDECIDED = ("not-decided",)
#: What re-running the first diverging op said (``tftrace explain``, tftrace/isolate/):
#: its attributes are the cause, it passes on error it got, the kernel differs, neither
#: side's output came back, or A's inputs are not in the trace.
ISOLATION = ("attribute", "inherited", "kernel", "not-reproduced", "not-isolated")
CODES = RELATIONSHIPS + PITFALLS + UNDECIDED + ISOLATION


@dataclass(frozen=True)
class Diagnosis:
    """One explanation of a divergence.

    Attributes
    ----------
    code : str
        One of ``CODES``.
    evidence : mapping
        The facts it rests on, as plain JSON-able data: where (``at``: kind, name, step),
        the fitted numbers (``c``, ``lag``, zero fractions, ...), the names involved.
    """

    code: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"expected a diagnosis code among {', '.join(CODES)}, got {self.code!r}")

    @property
    def is_pitfall(self) -> bool:
        return self.code in PITFALLS

    @property
    def message(self) -> str:
        """The sentence of the report (report/diagnosis.py writes it)."""
        from tftrace.report.diagnosis import diagnosis_message

        return diagnosis_message(self)

    def to_dict(self) -> dict[str, Any]:
        """``{code, message, evidence}``, as in the JSON report."""
        from tftrace.report.diagnosis import diagnosis_document

        return diagnosis_document(self)
