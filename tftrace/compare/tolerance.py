"""Tolerances: one default (rtol, atol) and per-name overrides by glob.

An element pair ``(a, b)`` of floats is within tolerance when
``|a - b| <= atol + rtol * |a|``; the first trace is the reference. Integers, bools
and strings always compare exactly, whatever the tolerance.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from tftrace.errors import UsageError

#: The migration guide's defaults ("Validating correctness & numerical equivalence").
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-5
#: How a name's values are judged. ``elementwise``: every element within rtol/atol;
#: ``norm_relative``: ``||b - a|| / ||a|| <= limit`` over the finite elements (suits
#: quantities that amplify round-off, where single elements move a lot); ``cosine``:
#: ``1 - cos(a, b) <= limit`` (direction only, as Ascend msprobe reports).
MEASURES = ("elementwise", "norm_relative", "cosine")


@dataclass(frozen=True)
class Tolerance:
    """Relative and absolute tolerance for floats, or a whole-array measure and its limit."""

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    measure: str = "elementwise"
    limit: float = 0.0

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise UsageError(f"expected a tolerance measure among {', '.join(MEASURES)}, "
                             f"got {self.measure!r}")
        for label, value in (("rtol", self.rtol), ("atol", self.atol), ("limit", self.limit)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not math.isfinite(value) or value < 0:
                raise UsageError(f"expected {label} to be a finite number >= 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rtol": float(self.rtol), "atol": float(self.atol)}
        if self.measure != "elementwise":
            out.update(measure=self.measure, limit=float(self.limit))
        return out


@dataclass(frozen=True)
class ToleranceRule:
    """A tolerance for the names matching a glob (``fnmatch`` syntax, case-sensitive)."""

    glob: str
    tolerance: Tolerance

    def to_dict(self) -> dict[str, Any]:
        return {"glob": self.glob, **self.tolerance.to_dict()}


@dataclass(frozen=True)
class Tolerances:
    """The default tolerance and the overrides; the LAST matching override wins.

    Later rules win so that a command line can refine an earlier, broader rule:
    ``--tol 'grads/*=1e-4,1e-4' --tol 'grads/bn/*=1e-3,1e-3'``.
    """

    default: Tolerance = Tolerance()
    rules: tuple[ToleranceRule, ...] = ()

    def for_name(self, name: str) -> Tolerance:
        """The tolerance that applies to the (first trace's) name ``name``."""
        for rule in reversed(self.rules):
            if fnmatch.fnmatchcase(name, rule.glob):
                return rule.tolerance
        return self.default

    def to_dict(self) -> dict[str, Any]:
        return {**self.default.to_dict(), "overrides": [r.to_dict() for r in self.rules]}

    @classmethod
    def build(cls, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
              overrides: Mapping[str, Any] | Iterable[ToleranceRule | str] | None = None,
              ) -> Tolerances:
        """Make tolerances from the API's arguments.

        ``overrides`` is a mapping ``{glob: (rtol, atol)}`` (applied in insertion
        order), or an iterable of :class:`ToleranceRule` or ``"GLOB=RTOL,ATOL"`` strings.
        """
        rules: list[ToleranceRule] = []
        if isinstance(overrides, Mapping):
            for glob, pair in overrides.items():
                rules.append(_rule_from_pair(glob, pair))
        elif overrides is not None:
            for item in overrides:
                rules.append(item if isinstance(item, ToleranceRule) else parse_tolerance_rule(item))
        return cls(Tolerance(rtol, atol), tuple(rules))


def _rule_from_pair(glob: Any, pair: Any) -> ToleranceRule:
    if not isinstance(glob, str) or not glob:
        raise UsageError(f"expected a non-empty name glob as tolerance key, got {glob!r}")
    if isinstance(pair, Mapping):  # {"measure": "norm_relative", "limit": 1e-5, ...}
        unknown = set(pair) - {"rtol", "atol", "measure", "limit"}
        if unknown:
            raise UsageError(f"expected tolerance keys among rtol, atol, measure, limit for "
                             f"{glob!r}, got {', '.join(sorted(map(str, unknown)))}")
        return ToleranceRule(glob, Tolerance(**pair))
    try:
        rtol, atol = pair
    except (TypeError, ValueError):
        raise UsageError(
            f"expected (rtol, atol) for tolerance override {glob!r}, got {pair!r}") from None
    return ToleranceRule(glob, Tolerance(rtol, atol))


def parse_tolerance_rule(text: str) -> ToleranceRule:
    """Parse ``GLOB=RTOL,ATOL`` (the ``--tol`` option), e.g. ``grads/*=1e-4,1e-4``."""
    glob, sep, numbers = str(text).rpartition("=")
    parts = numbers.split(",")
    if not sep or not glob or len(parts) != 2:
        raise UsageError(f"expected --tol GLOB=RTOL,ATOL (e.g. 'grads/*=1e-4,1e-5'), got {text!r}")
    try:
        rtol, atol = (float(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"expected numbers in --tol GLOB=RTOL,ATOL (e.g. 'grads/*=1e-4,1e-5'), got {text!r}"
        ) from None
    return ToleranceRule(glob, Tolerance(rtol, atol))
