"""The result of ``tftrace check``: findings as data, which report/check.py puts into words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

#: Finding codes, in the order the report lists them.
CODES = ("incomplete", "unclosed-pack", "not-captured", "late-variable", "frozen-non-trainable", "nan-inf",
         "shared-random-seed", "cached-random", "identical-initial-values")


@dataclass(frozen=True)
class Finding:
    """One thing found: a code from ``CODES``, the events involved, and the facts the
    report words (names, numbers; per code, see report/check.py)."""

    code: str
    seqs: tuple[int, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The sentence of the report (report/check.py writes it)."""
        from tftrace.report.check import finding_message

        return finding_message(self)

    def to_dict(self) -> dict[str, Any]:
        """This finding in the JSON report."""
        from tftrace.report.check import finding_document

        return finding_document(self)


@dataclass(frozen=True)
class CheckResult:
    """Everything ``tftrace check`` found in one trace; renderers read only this."""

    path: str
    complete: bool
    events: int
    findings: tuple[Finding, ...]
    status: str = "completed"

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``tftrace check --format json``), written by report/check.py."""
        from tftrace.report.check import check_document

        return check_document(self)

    def to_json(self, indent: int | None = 2) -> str:
        from tftrace.report.check import render_check_json

        return render_check_json(self, indent=indent).rstrip("\n")
