"""``calibrate``: per-name tolerances from the spread between recordings of one program.

The first run is the reference; every other run is aligned with it as ``diff`` aligns
two traces (names, steps, optimizer state by role) and, per name, the largest spread
over steps and runs is measured three ways: max absolute error, norm-relative error
``||b - a|| / ||a||`` and cosine distance ``1 - cos(a, b)``. A name's tolerance is::

    limit = max(norm_floor, safety_factor * largest norm-relative spread)

judged by the norm-relative measure, because element-wise errors of quantities that
amplify round-off (a bias before batch norm under Adam) are large where single elements
are near zero, while the norm of the difference stays small. The floor (1e-5) covers two
float32 implementations of the same formula (TF1's fused ``ApplyAdam`` against Keras'
composite ops differ by ~1e-6 of the norm); the safety factor (10) covers spreads that
other runs, steps and data would show. Names whose spread is above ``ILL_CONDITIONED``
of their norm are flagged: round-off alone moves them that much.

Repeated runs on one CPU machine are usually bit-equal: then every limit is the floor,
and :attr:`Calibration.bit_equal` says so. Runs that differ by round-off (initial
weights moved by one ULP, other thread settings, another machine) measure the spread.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from tftrace.compare.align import align
from tftrace.compare.metrics import FLOAT_DTYPES, compare_blocks
from tftrace.compare.tolerance import Tolerance, ToleranceRule
from tftrace.errors import UsageError
from tftrace.format.events import OPTIMIZER_STATE
from tftrace.format.progress import Counter, ProgressCallback, event_nbytes
from tftrace.format.reader import Trace, open_trace
from tftrace.format.rules import RenameRule, parse_rename_rule

SAFETY_FACTOR = 10.0
NORM_FLOOR = 1e-5
#: Above this norm-relative spread a name is flagged as ill-conditioned.
ILL_CONDITIONED = 1e-3
TOLERANCES_FORMAT = "tftrace-tolerances"
TOLERANCES_VERSION = 1
CALIBRATED_KINDS = ("variable", "endpoint", "snapshot", OPTIMIZER_STATE)
_MEASURE = Tolerance(measure="norm_relative", limit=1.0)  # the limit is not used here


@dataclass(frozen=True)
class NameSpread:
    """The largest spread of one name (A's name, as ``diff`` looks tolerances up)."""

    name: str
    kind: str
    compared: int
    max_abs: float
    norm_relative: float
    cosine_distance: float

    def limit(self, safety_factor: float, norm_floor: float) -> float:
        return max(norm_floor, safety_factor * self.norm_relative)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "compared": self.compared, "max_abs": self.max_abs,
                "norm_relative": self.norm_relative, "cosine_distance": self.cosine_distance}


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` measured, and the tolerances it derives (``to_dict``: the file)."""

    runs: tuple[str, ...]
    safety_factor: float
    norm_floor: float
    spreads: tuple[NameSpread, ...]
    not_compared: tuple[str, ...] = ()

    @property
    def bit_equal(self) -> bool:
        """Every compared value was equal in every run: no spread to calibrate from."""
        return all(s.max_abs == 0 for s in self.spreads)

    @property
    def ill_conditioned(self) -> tuple[NameSpread, ...]:
        return tuple(s for s in self.spreads if s.norm_relative > ILL_CONDITIONED)

    def rules(self) -> tuple[ToleranceRule, ...]:
        return tuple(ToleranceRule(escape_glob(s.name), Tolerance(
            measure="norm_relative", limit=s.limit(self.safety_factor, self.norm_floor)))
            for s in self.spreads)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TOLERANCES_FORMAT, "version": TOLERANCES_VERSION, "runs": list(self.runs),
            "safety_factor": self.safety_factor, "norm_floor": self.norm_floor,
            "bit_equal": self.bit_equal, "not_compared": list(self.not_compared),
            "names": {s.name: {"measure": "norm_relative",
                               "limit": s.limit(self.safety_factor, self.norm_floor),
                               "ill_conditioned": s.norm_relative > ILL_CONDITIONED,
                               "spread": s.to_dict()} for s in self.spreads},
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, allow_nan=False)
            f.write("\n")


def calibrate(runs: Sequence[str | os.PathLike[str]], *, safety_factor: float = SAFETY_FACTOR,
              norm_floor: float = NORM_FLOOR,
              rename: Iterable[str | tuple[str, str] | RenameRule] | None = None,
              progress: ProgressCallback | None = None) -> Calibration:
    """Measure the spread between two or more recordings of the same program.

    Parameters
    ----------
    runs : sequence of paths
        The recordings; the first is the reference the others are aligned with.
    safety_factor, norm_floor : float
        A name's limit is ``max(norm_floor, safety_factor * spread)`` (module docstring).
    rename : iterable, optional
        Rules applied to the other runs' variable names, as ``diff``'s ``rename``.
    progress : callable, optional
        Called with a :class:`~tftrace.format.progress.Work` after each pair measured.

    Returns
    -------
    Calibration
        ``.write(path)`` writes the tolerances file that ``diff(tolerances_file=)`` reads.
    """
    if len(runs) < 2:
        raise UsageError(f"expected two or more runs to calibrate from, got {len(runs)}")
    for label, value in (("safety factor", safety_factor), ("norm floor", norm_floor)):
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"expected the {label} to be a finite number > 0, got {value!r}")
    rules = tuple(parse_rename_rule(r) for r in (rename or ()))
    spreads: dict[str, list[Any]] = {}
    not_compared: list[str] = []
    traces = [open_trace(r) for r in runs]
    try:
        reference = traces[0]
        alignments = [(other, align(reference.events, other.events, CALIBRATED_KINDS, rules))
                      for other in traces[1:]]
        pairs = [(other, pair) for other, alignment in alignments for pair in alignment.pairs]
        done = Counter(progress, len(pairs), sum(_nbytes(pair) for _, pair in pairs))
        for other, pair in pairs:
            _measure(reference, other, pair, spreads, not_compared)
            done.advance(1, _nbytes(pair))
    finally:
        for trace in traces:
            trace.close()
    measured = tuple(NameSpread(name, kind, n, max_abs, norm, cosine)
                     for name, (kind, n, max_abs, norm, cosine) in spreads.items())
    missing = tuple(dict.fromkeys(n for n in not_compared if n not in spreads))
    return Calibration(tuple(str(r) for r in runs), safety_factor, norm_floor, measured, missing)


def _measure(reference: Trace, other: Trace, pair: Any, spreads: dict[str, list[Any]],
             not_compared: list[str]) -> None:
    a, b = pair.a, pair.b
    if a is None:
        return
    if b is None or a.shape != b.shape or a.dtype != b.dtype or not (a.stored and b.stored):
        not_compared.append(a.name)
        return
    if a.dtype not in FLOAT_DTYPES or (pair.state is not None and pair.state.conversion is not None):
        return  # exact dtypes compare exactly; converted state keeps the default tolerance
    blocks = ((start, block_a, block_b) for (start, block_a), (_, block_b)
              in zip(reference.iter_blocks(a), other.iter_blocks(b)))
    values = compare_blocks(blocks, a.shape or (), a.dtype, _MEASURE)
    max_abs = values.max_abs_error.error if values.max_abs_error is not None else None
    max_abs = 0.0 if max_abs is None else max_abs
    norm = values.norm_rel_error or 0.0
    cosine = 1.0 - (values.cosine_similarity if values.cosine_similarity is not None else 1.0)
    entry = spreads.setdefault(a.name, [pair.kind, 0, 0.0, 0.0, 0.0])
    entry[1] += 1
    entry[2] = max(entry[2], float(max_abs) if math.isfinite(max_abs) else math.inf)
    entry[3] = max(entry[3], norm)
    entry[4] = max(entry[4], max(0.0, cosine))


def _nbytes(pair: Any) -> int:
    return event_nbytes(pair.a) + event_nbytes(pair.b)


def escape_glob(name: str) -> str:
    """``name`` as an fnmatch pattern that matches only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def load_tolerances(path: str | os.PathLike[str]) -> tuple[ToleranceRule, ...]:
    """The rules of a tolerances file (``calibrate``'s output, or written by hand).

    The file is JSON: ``{"format": "tftrace-tolerances", "version": 1, "names": {NAME:
    {"measure": "norm_relative" | "cosine" | "elementwise", "limit": X, "rtol": X,
    "atol": X}}, "rules": [{"glob": GLOB, ...same keys}]}``; ``names`` match exactly,
    ``rules`` by glob and after them (the last match wins, as for ``--tol``).
    """
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: tolerances file not found") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: expected a JSON tolerances file (tftrace calibrate -o), "
                         f"got an unreadable file: {exc}") from None
    if not isinstance(document, Mapping) or document.get("format") != TOLERANCES_FORMAT:
        raise UsageError(f"{path}: expected a tolerances file with format {TOLERANCES_FORMAT!r} "
                         f"(tftrace calibrate -o), got {type(document).__name__}"
                         f"{'' if not isinstance(document, Mapping) else ' with format ' + repr(document.get('format'))}")
    version = document.get("version")
    if version != TOLERANCES_VERSION:
        raise UsageError(f"{path}: expected tolerances file version {TOLERANCES_VERSION}, got "
                         f"{version!r}")
    names, rules = document.get("names", {}), document.get("rules", [])
    if not isinstance(names, Mapping) or not isinstance(rules, list):
        raise UsageError(f"{path}: expected 'names' to be an object and 'rules' a list")
    out = [ToleranceRule(escape_glob(str(name)), _tolerance(path, str(name), entry))
           for name, entry in names.items()]
    for rule in rules:
        glob = rule.get("glob") if isinstance(rule, Mapping) else None
        if not isinstance(glob, str) or not glob:
            raise UsageError(f"{path}: expected every rule to have a non-empty 'glob', got {rule!r}")
        out.append(ToleranceRule(glob, _tolerance(path, glob, rule)))
    return tuple(out)


def _tolerance(path: Any, name: str, entry: Any) -> Tolerance:
    if not isinstance(entry, Mapping):
        raise UsageError(f"{path}: expected an object for {name!r}, got {entry!r}")
    default = Tolerance()
    try:
        return Tolerance(rtol=entry.get("rtol", default.rtol), atol=entry.get("atol", default.atol),
                         measure=entry.get("measure", "elementwise"), limit=entry.get("limit", 0.0))
    except UsageError as exc:
        raise UsageError(f"{path}: tolerance of {name!r}: {exc}") from None
