"""How far apart two arrays are: pure numpy, one block at a time.

The order of checks follows ``numpy.testing.assert_array_compare``: the caller
checks shape and dtype; here NaN/Inf positions and values are compared together,
block by block, so memory stays bounded by the block size whatever the array size.

Rules
-----
* Floats (float16, bfloat16, float32, float64) and complex: an element pair
  matches when both are NaN, when they are equal (this covers equal infinities), or
  when both are finite and ``|a - b| <= atol + rtol * |a|``. ``a`` is the first
  trace, the reference, as ``desired`` is in ``numpy.testing.assert_allclose``.
* Integers, bools and strings compare exactly.
* Max absolute and relative errors are taken over finite pairs; relative error is
  ``|a - b| / |a|`` (infinite where ``a == 0 != b``).
* ULP distance is the number of representable floats between ``a`` and ``b``
  (real floats only, finite pairs only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from tftrace.compare.measures import NormSums
from tftrace.compare.tolerance import Tolerance

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
COMPLEX_DTYPES = ("complex64", "complex128")
#: Elements compared at a time inside a block (256 KiB of float32: cache-resident temporaries).
SLICE_ELEMENTS = 1 << 16
#: How many mismatched elements a comparison keeps for the report.
MAX_LISTED_MISMATCHES = 5

_IDENTICAL_BLOCK = np.zeros(0, dtype=bool)  # sentinel: a block with every element equal
_BITS_VIEW = {"float16": np.int16, "bfloat16": np.int16, "float32": np.int32, "float64": np.int64}


@dataclass(frozen=True)
class ElementPair:
    """One element of both arrays: where it is, both values, and their distance."""

    index: tuple[int, ...]
    a: Any
    b: Any
    error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": list(self.index), "a": json_value(self.a), "b": json_value(self.b),
                "error": json_value(self.error)}


@dataclass(frozen=True)
class ValueComparison:
    """The element-wise comparison of two arrays of the same shape and dtype.

    Attributes
    ----------
    size : int
        Number of elements compared (N).
    mismatched : int
        Elements outside tolerance, or unequal for exact dtypes (n).
    identical : bool
        Every element equal (NaN equal to NaN; ``-0.0`` equal to ``0.0``).
    exact : bool
        True for dtypes compared exactly (integers, bools, strings).
    max_abs_error, max_rel_error : ElementPair or None
        The largest absolute / relative error over finite pairs, with its index.
    mismatches : tuple of ElementPair
        The first ``MAX_LISTED_MISMATCHES`` mismatched elements, in C order.
    max_ulp : int or None
        The largest ULP distance over finite pairs (real floats only).
    nan_mismatched, inf_mismatched : int
        Positions where only one side is NaN; positions where an infinity on
        either side is not matched by the same infinity.
    """

    size: int
    mismatched: int
    identical: bool
    exact: bool
    max_abs_error: ElementPair | None = None
    max_rel_error: ElementPair | None = None
    mismatches: tuple[ElementPair, ...] = ()
    max_ulp: int | None = None
    nan_mismatched: int = 0
    inf_mismatched: int = 0
    norm_rel_error: float | None = None
    cosine_similarity: float | None = None
    measure: str = "elementwise"
    limit: float = 0.0

    @property
    def within_tolerance(self) -> bool:
        if self.mismatched == 0 or self.measure == "elementwise" or self.exact:
            return self.mismatched == 0
        if self.nan_mismatched or self.inf_mismatched:
            return False
        # A whole-array measure widens the element-wise test: either one passes.
        if self.measure == "norm_relative":
            return self.norm_rel_error is not None and self.norm_rel_error <= self.limit
        return self.cosine_similarity is not None and 1.0 - self.cosine_similarity <= self.limit

    @property
    def mismatched_percent(self) -> float:
        return 100.0 * self.mismatched / self.size if self.size else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size, "mismatched": self.mismatched, "identical": self.identical,
            "exact": self.exact,
            "max_abs_error": self.max_abs_error.to_dict() if self.max_abs_error else None,
            "max_rel_error": self.max_rel_error.to_dict() if self.max_rel_error else None,
            "mismatches": [m.to_dict() for m in self.mismatches],
            "max_ulp": self.max_ulp, "nan_mismatched": self.nan_mismatched,
            "inf_mismatched": self.inf_mismatched,
            **({} if self.measure == "elementwise" else {
                "measure": self.measure, "limit": self.limit,
                "norm_rel_error": json_value(self.norm_rel_error),
                "cosine_similarity": json_value(self.cosine_similarity)}),
        }


def json_value(value: Any) -> Any:
    """A scalar as JSON can hold it: non-finite floats as strings, complex as [re, im]."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (complex, np.complexfloating)):
        return [json_value(float(value.real)), json_value(float(value.imag))]
    number = float(value)
    if np.isnan(number):
        return "nan"
    if np.isinf(number):
        return "inf" if number > 0 else "-inf"
    return number


def compare_arrays(a: np.ndarray, b: np.ndarray, dtype: str, tolerance: Tolerance) -> ValueComparison:
    """Compare two whole arrays of the same shape (convenience over :func:`compare_blocks`)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"expected arrays of the same shape, got {a.shape} and {b.shape}")
    return compare_blocks([(0, a.reshape(-1), b.reshape(-1))], a.shape, dtype, tolerance)


def compare_blocks(blocks: Iterable[tuple[int, np.ndarray, np.ndarray]], shape: tuple[int, ...],
                   dtype: str, tolerance: Tolerance) -> ValueComparison:
    """Compare two arrays given as aligned 1-D blocks ``(flat start, a_block, b_block)``.

    Parameters
    ----------
    blocks : iterable of (int, ndarray, ndarray)
        Blocks in C order; both sides' blocks cover the same elements.
    shape : tuple of int
        The arrays' shape, to turn flat offsets into indices.
    dtype : str
        The logical dtype name (``"float32"``, ``"bfloat16"``, ``"string"``, ...).
    tolerance : Tolerance
        Used for floats and complex; other dtypes compare exactly.
    """
    acc = _Accumulator(shape, dtype, tolerance)
    for start, a_block, b_block in blocks:
        acc.add(start, a_block, b_block)
    return acc.result()


class _Accumulator:
    """Running comparison state across blocks."""

    def __init__(self, shape: tuple[int, ...], dtype: str, tolerance: Tolerance) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.tolerance = tolerance
        self.exact = dtype not in FLOAT_DTYPES and dtype not in COMPLEX_DTYPES
        self.size = 0
        self.mismatched = 0
        self.identical = True
        self.max_abs: ElementPair | None = None
        self.max_rel: ElementPair | None = None
        self.mismatches: list[ElementPair] = []
        self.max_ulp: int | None = None
        self.nan_mismatched = 0
        self.inf_mismatched = 0
        # Whole-array sums for the norm-relative and cosine measures, only when asked.
        self.norms = None if tolerance.measure == "elementwise" else NormSums()

    def result(self) -> ValueComparison:
        norm_rel = cosine = None
        if self.norms is not None and not self.exact:
            norm_rel, cosine = self.norms.measures()
        return ValueComparison(
            size=self.size, mismatched=self.mismatched, identical=self.identical,
            exact=self.exact, max_abs_error=self.max_abs, max_rel_error=self.max_rel,
            mismatches=tuple(self.mismatches), max_ulp=self.max_ulp,
            nan_mismatched=self.nan_mismatched, inf_mismatched=self.inf_mismatched,
            norm_rel_error=norm_rel, cosine_similarity=cosine,
            measure=self.tolerance.measure, limit=self.tolerance.limit)

    def _pair(self, start: int, offset: int, a: np.ndarray, b: np.ndarray,
              error: float | None) -> ElementPair:
        flat = start + int(offset)
        index = tuple(int(i) for i in np.unravel_index(flat, self.shape)) if self.shape else ()
        return ElementPair(index, _scalar(a[offset]), _scalar(b[offset]), error)

    def _note_mismatches(self, start: int, bad: np.ndarray, a: np.ndarray, b: np.ndarray,
                         errors: np.ndarray | None) -> None:
        need = MAX_LISTED_MISMATCHES - len(self.mismatches)
        if need <= 0:
            return
        for offset in np.flatnonzero(bad)[:need]:
            error = None if errors is None else float(errors[offset])
            self.mismatches.append(self._pair(start, offset, a, b, error))

    def add(self, start: int, a: np.ndarray, b: np.ndarray) -> None:
        if a.shape != b.shape:
            raise ValueError(f"expected aligned blocks, got {a.shape} and {b.shape} at {start}")
        self.size += a.size
        # Work on cache-sized slices: the dozen passes below then stay in L2/L3
        # instead of streaming block-sized temporaries through memory.
        for offset in range(0, a.size, SLICE_ELEMENTS):
            x = a[offset:offset + SLICE_ELEMENTS]
            y = b[offset:offset + SLICE_ELEMENTS]
            if self.dtype in FLOAT_DTYPES:
                if self.norms is not None:
                    self.norms.add(x, y)
                self._add_float(start + offset, x, y)
            elif self.dtype in COMPLEX_DTYPES:
                self._add_inexact(start + offset, x, y, x, y)
            else:
                self._add_exact(start + offset, x, y)

    # exact: integers, bools, strings -------------------------------------------------
    def _add_exact(self, start: int, a: np.ndarray, b: np.ndarray) -> None:
        bad = a != b
        n_bad = int(np.count_nonzero(bad))
        if n_bad == 0:
            return
        self.identical = False
        self.mismatched += n_bad
        errors = None
        if a.dtype.kind in "iub":
            # float64 keeps the report's error readable; exactness is decided above.
            errors = np.abs(a.astype(np.float64) - b.astype(np.float64))
            self._update_max(start, errors, a, b, "abs")
        self._note_mismatches(start, bad, a, b, errors)

    # floats and complex ---------------------------------------------------------------
    def _add_float(self, start: int, a: np.ndarray, b: np.ndarray) -> None:
        raw_a, raw_b = a, b
        if self.dtype in ("float16", "bfloat16"):
            # bfloat16 arithmetic in ml_dtypes is slow and float16 loses range: widen.
            a = a.astype(np.float32)
            b = b.astype(np.float32)
        finite = self._add_inexact(start, a, b, raw_a, raw_b)
        if finite is _IDENTICAL_BLOCK:
            self.max_ulp = self.max_ulp or 0
        else:
            self._update_ulp(raw_a, raw_b, finite)

    def _add_inexact(self, start: int, a: np.ndarray, b: np.ndarray, raw_a: np.ndarray,
                     raw_b: np.ndarray) -> np.ndarray | None:
        """Compare one float/complex block; return the finite-pair mask (None: all finite)."""
        real = a.real.dtype if a.dtype.kind == "c" else a.dtype
        rtol = real.type(self.tolerance.rtol)
        atol = real.type(self.tolerance.atol)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            diff = np.subtract(a, b)
            diff = np.abs(diff, out=diff) if diff.dtype.kind == "f" else np.abs(diff)
            largest = diff.max()
            if np.isfinite(largest):
                # Fast path: no NaN or Inf on either side, no overflow.
                if largest == 0:
                    return _IDENTICAL_BLOCK
                finite = None
                element_errors = diff
                self.identical = False
                abs_a = np.abs(a)
                threshold = abs_a * rtol
                threshold += atol
                bad = np.greater(diff, threshold)
            else:
                finite = np.isfinite(a) & np.isfinite(b)
                nan_a, nan_b = np.isnan(a), np.isnan(b)
                equal = (a == b) | (nan_a & nan_b)
                abs_a = np.abs(a)
                threshold = abs_a * rtol
                threshold += atol
                bad = ~(equal | (finite & (diff <= threshold)))
                if not equal.all():
                    self.identical = False
                self.nan_mismatched += int(np.count_nonzero(nan_a ^ nan_b))
                either_inf = np.isinf(a) | np.isinf(b)
                self.inf_mismatched += int(np.count_nonzero(either_inf & ~equal & ~(nan_a | nan_b)))
                element_errors = diff  # NaN / Inf where a side is not finite
                diff = np.where(finite, diff, -1)
                largest = diff.max()
            n_bad = int(np.count_nonzero(bad))
            self.mismatched += n_bad
            self._update_max(start, diff, raw_a, raw_b, "abs", largest)
            relative = np.divide(diff, abs_a, out=abs_a)  # abs_a is not needed any more
            if finite is not None:
                relative[~finite] = -1
            largest_relative = relative.max()
            if np.isnan(largest_relative):  # 0 / 0 where both are zero
                relative[np.isnan(relative)] = 0
                largest_relative = relative.max()
            self._update_max(start, relative, raw_a, raw_b, "rel", largest_relative)
            if n_bad:
                self._note_mismatches(start, bad, raw_a, raw_b, element_errors)
        return finite

    def _update_max(self, start: int, errors: np.ndarray, a: np.ndarray, b: np.ndarray,
                    which: str, largest: Any = None) -> None:
        current = self.max_abs if which == "abs" else self.max_rel
        if largest is None:
            largest = errors.max()
        if largest < 0 or (current is not None and not largest > current.error):
            return
        offset = int(errors.argmax())
        pair = self._pair(start, offset, a, b, float(largest))
        if which == "abs":
            self.max_abs = pair
        else:
            self.max_rel = pair

    def _update_ulp(self, a: np.ndarray, b: np.ndarray, finite: np.ndarray | None) -> None:
        bits = _BITS_VIEW[self.dtype]
        ia = a.view(bits)
        ib = b.view(bits)
        if finite is not None:
            ia = ia[finite]
            ib = ib[finite]
            if ia.size == 0:
                return
        if (ia ^ ib).min() >= 0:
            # Same sign everywhere: the distance of the raw bit patterns, which fits
            # the signed type because both magnitudes are below its maximum.
            ulp = int(np.abs(np.subtract(ia, ib)).max())
        else:
            ulp = _max_ordered_distance(ia, ib, bits)
        if self.max_ulp is None or ulp > self.max_ulp:
            self.max_ulp = ulp


def _max_ordered_distance(ia: np.ndarray, ib: np.ndarray, bits: type) -> int:
    """Largest ULP distance when signs differ: map bit patterns to an ordered scale."""
    if bits is np.int64:
        # Exact in Python ints would be slow; float64 is exact below 2**53 ULP.
        oa = _ordered(ia, bits).astype(np.float64)
        ob = _ordered(ib, bits).astype(np.float64)
        return int(np.abs(oa - ob).max())
    oa = _ordered(ia, bits).astype(np.int64)
    ob = _ordered(ib, bits).astype(np.int64)
    return int(np.abs(oa - ob).max())


def _ordered(bits_view: np.ndarray, bits: type) -> np.ndarray:
    """Map IEEE bit patterns to integers that order like the floats (-0 and +0 both 0)."""
    lowest = np.iinfo(bits).min
    return np.where(bits_view < 0, bits(lowest) - bits_view, bits_view)


def _scalar(value: Any) -> Any:
    """A numpy element as a plain Python value (bfloat16 and float16 as float)."""
    if isinstance(value, np.generic):
        if value.dtype.kind in "fV" or type(value).__name__ == "bfloat16":
            return float(value)
        return value.item()
    if hasattr(value, "dtype"):  # ml_dtypes scalars
        return float(value)
    return value
