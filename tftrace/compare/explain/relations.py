"""How two aligned arrays differ: one detector per relationship, pure numpy.

Each detector takes A's and B's values (float64, the caller converts) and returns its
evidence as a plain dict, or None when the relationship does not hold. Thresholds were
measured on real port pairs (docs/diagnosis.md): float32 round-off in small models stays
under 1e-6 of a tensor's norm, so a relation "holds" when what it leaves unexplained is
under ``FIT`` of the norm, and it must change something (``MEANINGFUL``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable

import numpy as np

#: Relative residual (to the norm) under which a fitted relation holds.
FIT = 1e-5
#: A scale within this of 1, or an offset this small relative to the values, changes nothing.
MEANINGFUL = 1e-3
#: For one element any two numbers are a scale and an offset apart: only these scales count.
SIMPLE_SCALES = (2.0, 0.5, 4.0, 0.25, 10.0, 0.1)
#: Norm-relative difference under which a divergence is round-off (reduction order, fusion).
NOISE_NORM_REL = 1e-5
#: Absolute difference under which values near zero (moving means, biases) are round-off.
NOISE_ABS = 1e-6
#: Smallest array a zero fraction means anything for.
MASK_MIN_SIZE = 16
#: Zero fractions must differ by this much to be another mask.
MASK_MIN_DIFFERENCE = 0.05
#: Axis permutations tried to name a reshape order (ranks up to 5: 4! orders of the non-batch axes).
MAX_PERMUTED_RANK = 5
#: What each 4-D axis order means when it names a layout change.
LAYOUTS: dict[tuple[int, ...], str] = {(0, 3, 1, 2): "NHWC->NCHW", (0, 2, 3, 1): "NCHW->NHWC"}
_NARROW = ("float16", "bfloat16")


def norm(x: np.ndarray) -> float:
    return float(np.linalg.norm(x.ravel()))


def relative(residual: np.ndarray, reference: np.ndarray) -> float:
    return norm(residual) / max(norm(reference), 1e-300)


def _number(value: float) -> float:
    """A fitted number as the report shows it: 7 significant digits."""
    return float(f"{value:.7g}")


def constant(a: np.ndarray) -> bool:
    """One element, or all equal: then a scale and an offset fit equally well (any two
    numbers are a scale and an offset apart), and only a simple scale is evidence."""
    return a.size == 1 or float(np.ptp(a)) <= 1e-7 * float(np.abs(a).max())


def scaled(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """B = c * A for one constant c (least squares), c meaningfully different from 1 and -1;
    for a constant A, only a c among ``SIMPLE_SCALES``."""
    if a.shape != b.shape or a.size < 1 or norm(a) == 0:
        return None
    flat_a, flat_b = a.ravel(), b.ravel()
    c = float(np.dot(flat_a, flat_b) / np.dot(flat_a, flat_a))
    if c == 0 or abs(c - 1) <= MEANINGFUL or abs(c + 1) <= MEANINGFUL:
        return None
    if constant(a):
        simple = next((k for k in SIMPLE_SCALES if abs(c - k) <= 1e-6 * k), None)
        if simple is None:
            return None
        return {"c": _number(c), "residual": 0.0}
    residual = relative(b - c * a, b)
    return {"c": _number(c), "residual": float(f"{residual:.3g}")} if residual <= FIT else None


def channel_scaled(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """B = c_j * A per channel j of the last axis, the c_j not all equal (a per-channel
    normalization constant: batch norm's epsilon)."""
    if a.shape != b.shape or a.ndim < 2 or a.shape[-1] < 2 or a.size < 2 * a.shape[-1]:
        return None
    a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    den = np.sum(a2 * a2, axis=0)
    # A channel whose values are all equal fits any c_j: no evidence of a scale (a batch of
    # identical rows would make every elementwise change look per-channel scaled).
    if np.any(den == 0) or np.any(np.ptp(a2, axis=0) == 0):
        return None
    c = np.sum(a2 * b2, axis=0) / den
    if np.all(np.abs(c - 1) <= MEANINGFUL) or np.ptp(c) <= 1e-7 * np.abs(c).max():
        return None
    residual = relative(b2 - c * a2, b2)
    if residual > FIT:
        return None
    return {"c": [_number(float(v)) for v in c], "axis": a.ndim - 1,
            "residual": float(f"{residual:.3g}")}


def offset(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """B = A + c for one constant c (A not constant: see :func:`constant`)."""
    if a.shape != b.shape or constant(a):
        return None
    c = float(np.mean(b - a))
    scale = max(float(np.abs(a).max()), abs(c), 1e-300)
    if abs(c) <= MEANINGFUL * scale:
        return None
    residual = float(np.abs(b - a - c).max()) / scale
    return {"c": _number(c), "residual": float(f"{residual:.3g}")} if residual <= FIT else None


def sign_flip(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """B = -A."""
    if a.shape != b.shape or norm(a) == 0:
        return None
    residual = relative(a + b, a)
    return {"residual": float(f"{residual:.3g}")} if residual <= FIT else None


def permuted(a: np.ndarray, b: np.ndarray, shapes: Iterable[tuple[int, ...]] = ()) -> dict[str, Any] | None:
    """The same values in another order: per row (first axis) when both have one, else
    overall. Then the axis order of a known shape of the same size (a recorded tensor
    before a flatten, a kernel) that reproduces B from A exactly, when one does."""
    if a.size != b.size or constant(a) or np.array_equal(a.ravel(), b.ravel()):
        return None  # nothing to reorder, or the same order (a reshape, not a permutation)
    if a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=0):
        return None
    rows = a.shape[0] if a.ndim >= 2 and b.ndim >= 2 and a.shape[0] == b.shape[0] else 1
    sorted_a = np.sort(a.reshape(rows, -1), axis=1)
    sorted_b = np.sort(b.reshape(rows, -1), axis=1)
    if relative(sorted_b - sorted_a, sorted_a) > FIT:
        return None
    evidence: dict[str, Any] = {"same_values": "per row" if rows > 1 else "overall"}
    candidates = [tuple(b.shape), tuple(a.shape)] + [tuple(s) for s in shapes]
    seen: set[tuple[int, ...]] = set()
    for shape in candidates:
        if shape in seen or math.prod(shape) != a.size or not 2 <= len(shape) <= MAX_PERMUTED_RANK:
            continue
        seen.add(shape)
        found = _axis_order(a, b, shape)
        if found is not None:
            evidence.update(found)
            return evidence
    return evidence


def _axis_order(a: np.ndarray, b: np.ndarray, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """B's values are A's read as ``shape`` with its axes in another order (the batch axis
    first when both keep it: NHWC vs NCHW flatten), or transposed outright (a kernel)."""
    keep_batch = len(shape) > 2
    first = (0,) if keep_batch else ()
    rest = range(1, len(shape)) if keep_batch else range(len(shape))
    flat_b = b.ravel()
    for perm in itertools.permutations(rest):
        order = first + perm
        if order == tuple(range(len(shape))):
            continue
        # A holds `shape`'s values laid out in `order`: read it so, and put the axes back.
        laid_out = a.reshape([shape[i] for i in order])
        if np.array_equal(np.transpose(laid_out, np.argsort(order)).ravel(), flat_b):
            out: dict[str, Any] = {"shape": list(shape), "a_axes": list(order)}
            layout = LAYOUTS.get(order)
            if layout:
                out["layout"] = layout
            return out
    return None


def masked(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """Different fractions of exact zeros (dropout with another keep probability), the
    ratio B/A where both are non-zero, and whether one mask contains the other."""
    if a.shape != b.shape or a.size < MASK_MIN_SIZE:
        return None
    zeros_a, zeros_b = float(np.mean(a == 0)), float(np.mean(b == 0))
    if abs(zeros_a - zeros_b) < MASK_MIN_DIFFERENCE:
        return None
    both = (a != 0) & (b != 0)
    ratio = float(np.median(b[both] / a[both])) if both.any() else None
    if ratio is not None and abs(ratio - 1) <= MEANINGFUL:
        return None  # the same values, some of them rounded to exactly zero: not a mask
    nested = bool(np.all(a[b != 0] != 0)) if zeros_b > zeros_a else bool(np.all(b[a != 0] != 0))
    return {"zeros_a": round(zeros_a, 4), "zeros_b": round(zeros_b, 4),
            "kept_ratio": None if ratio is None else _number(ratio), "nested": nested}


def lower_precision(a: np.ndarray, b: np.ndarray, dtype_a: str, dtype_b: str) -> dict[str, Any] | None:
    """One side is float16/bfloat16 where the other is wider: how far apart once both are
    widened, and how many of the narrow side's values equal the wide side rounded. Never
    judged from float32 values alone (any 0.1-1 % divergence looks like 8-10 bits)."""
    narrow = dtype_b if dtype_b in _NARROW else dtype_a if dtype_a in _NARROW else None
    if narrow is None or dtype_a == dtype_b or a.shape != b.shape or a.size == 0:
        return None
    wide, short = (a, b) if narrow == dtype_b else (b, a)
    rounded = _round_to(wide, narrow)
    equal = float(np.mean(rounded == short)) if rounded is not None else None
    return {"narrow_side": "b" if narrow == dtype_b else "a", "dtype_a": dtype_a, "dtype_b": dtype_b,
            "norm_rel": float(f"{relative(b - a, a):.3g}"),
            "equal_to_rounded": None if equal is None else round(equal, 4)}


def _round_to(values: np.ndarray, dtype: str) -> np.ndarray | None:
    if dtype == "float16":
        return values.astype(np.float32).astype(np.float16).astype(np.float64)
    try:
        import ml_dtypes  # numpy's bfloat16 (installed with TensorFlow and with tftrace's reader)
    except ImportError:
        return None
    return values.astype(np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> int:
    """The largest float32 ULP distance over finite elements."""
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.any():
        return 0
    ia = a[finite].astype(np.float32).view(np.int32).astype(np.int64)
    ib = b[finite].astype(np.float32).view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, np.int64(-2 ** 31) - ia, ia)
    ib = np.where(ib < 0, np.int64(-2 ** 31) - ib, ib)
    return int(np.abs(ia - ib).max())


def noise(a: np.ndarray, b: np.ndarray) -> dict[str, Any] | None:
    """Small everywhere relative to the tensor's norm (or in absolute terms, for tensors
    near zero): round-off. The evidence says how far (norm-relative, ULP) and how spread
    (the fraction of elements that differ)."""
    if a.shape != b.shape or a.size == 0 or np.array_equal(a, b):
        return None
    diff = np.abs(b - a)
    if not np.all(np.isfinite(diff)):
        return None
    norm_rel = relative(b - a, a)
    max_abs = float(diff.max())
    if norm_rel > NOISE_NORM_REL and max_abs > NOISE_ABS:
        return None
    return {"norm_rel": float(f"{norm_rel:.3g}"), "max_abs": float(f"{max_abs:.3g}"),
            "max_ulp": ulp_distance(a, b), "differing": round(float(np.mean(a != b)), 4)}


def relate(a: np.ndarray, b: np.ndarray, dtype_a: str, dtype_b: str,
           shapes: Iterable[tuple[int, ...]] = ()) -> list[tuple[str, dict[str, Any]]]:
    """Every relationship that holds between A's and B's values, as (code, evidence).

    ``a`` and ``b`` are float64 (complex and non-float values are not related); ``shapes``
    are other recorded shapes a permutation may be named in. Arrays holding NaN or Inf
    are not related.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    if a.size == 0 or b.size == 0:
        return found
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return found  # NaN and Inf positions are their own finding (nan_inf), not a relation
    precision = lower_precision(a, b, dtype_a, dtype_b)
    if precision is not None:
        return [("lower-precision", precision)]
    if a.shape == b.shape:
        for code, detector in (("noise", noise), ("sign-flip", sign_flip), ("scaled", scaled),
                               ("offset", offset), ("masked", masked)):
            evidence = detector(a, b)
            if evidence is not None:
                found.append((code, evidence))
        if not found:
            evidence = channel_scaled(a, b)
            if evidence is not None:
                found.append(("scaled", evidence))
    if not found:
        evidence = permuted(a, b, shapes)
        if evidence is not None:
            found.append(("permuted", evidence))
    return found
