from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tftrace.compare.metrics import compare_arrays, compare_blocks, json_value
from tftrace.compare.tolerance import Tolerance

TOL = Tolerance()          # rtol=1e-6, atol=1e-5
EXACT = Tolerance(0, 0)


def test_identical_float32_is_identical():
    a = np.linspace(-3, 3, 50, dtype=np.float32)
    c = compare_arrays(a, a.copy(), "float32", TOL)
    assert (c.identical, c.mismatched, c.size, c.max_ulp) == (True, 0, 50, 0)


def test_single_element_difference_reports_index_values_and_ulp():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = a.copy()
    b[1, 2] = 6.5                      # a[1, 2] == 6.0
    c = compare_arrays(a, b, "float32", TOL)
    assert c.mismatched == 1 and not c.identical
    assert (c.max_abs_error.index, c.max_abs_error.a, c.max_abs_error.b) == ((1, 2), 6.0, 6.5)
    assert c.max_abs_error.error == 0.5
    assert c.max_rel_error.error == pytest.approx(0.5 / 6.0)
    # float32 spacing in [4, 8) is 2**-21, so 0.5 is 2**20 ULP.
    assert c.max_ulp == 2 ** 20
    assert [m.index for m in c.mismatches] == [(1, 2)]


def test_within_tolerance_is_close_not_identical():
    a = np.array([1.0, 2.0], np.float32)
    b = a + np.float32(5e-6)           # below atol + rtol*|a| = 1e-5 + 2e-6
    c = compare_arrays(a, b, "float32", TOL)
    assert c.within_tolerance and not c.identical


def test_tolerance_is_relative_to_a():
    # |a-b| = 1; with rtol=0.5: allowed 0.5*|a|. a=2 -> 1.0 allowed (match); a=1 -> 0.5 (mismatch).
    tol = Tolerance(0.5, 0.0)
    assert compare_arrays(np.array([2.0]), np.array([1.0]), "float64", tol).mismatched == 0
    assert compare_arrays(np.array([1.0]), np.array([2.0]), "float64", tol).mismatched == 1


def test_nan_at_same_positions_match_and_different_positions_mismatch():
    a = np.array([np.nan, 1.0, 2.0], np.float32)
    assert compare_arrays(a, a.copy(), "float32", TOL).identical
    b = np.array([1.0, np.nan, 2.0], np.float32)
    c = compare_arrays(a, b, "float32", TOL)
    assert (c.mismatched, c.nan_mismatched) == (2, 2)
    assert [m.index for m in c.mismatches] == [(0,), (1,)]
    assert c.max_abs_error.error == 0.0  # only finite pairs count; the third is equal


@pytest.mark.parametrize("b_value, mismatched", [(np.inf, 0), (1e30, 1), (-np.inf, 1)],
                         ids=["same-inf", "inf-vs-finite", "inf-vs-minus-inf"])
def test_infinities_must_match(b_value, mismatched):
    # a = +inf makes atol + rtol*|a| infinite: a naive allclose would accept anything.
    c = compare_arrays(np.array([np.inf, 1.0]), np.array([b_value, 1.0]), "float64", TOL)
    assert c.mismatched == mismatched
    assert c.inf_mismatched == mismatched


def test_ulp_across_zero_and_float64():
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    c = compare_arrays(np.array([tiny]), np.array([-tiny]), "float32", EXACT)
    assert c.max_ulp == 2              # +tiny -> +0 == -0 -> -tiny
    one = np.array([1.0])
    c = compare_arrays(one, np.nextafter(one, 2.0), "float64", EXACT)
    assert (c.max_ulp, c.mismatched) == (1, 1)


def test_minus_zero_equals_zero():
    assert compare_arrays(np.array([0.0]), np.array([-0.0]), "float64", EXACT).identical


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"], ids=str)
def test_half_precision_one_ulp(dtype):
    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.float16
    a = np.array([1.0, 2.0], dtype=np_dtype)
    b = a.copy()
    b[0] = np.nextafter(np.float32(1.0), np.float32(2.0)).astype(np_dtype)  # rounds to 1.0
    b[0] = (np.array([1.0], np.float32) + np.float32(2.0 ** -7 if dtype == "bfloat16" else 2.0 ** -10)).astype(np_dtype)[0]
    c = compare_arrays(a, b, dtype, EXACT)
    assert (c.mismatched, c.max_ulp) == (1, 1)
    assert isinstance(c.max_abs_error.b, float)


def test_integers_compare_exactly_whatever_the_tolerance():
    a = np.array([1, 2, 3], np.int64)
    c = compare_arrays(a, np.array([1, 2, 4], np.int64), "int64", Tolerance(1.0, 10.0))
    assert (c.mismatched, c.exact, c.max_abs_error.error, c.max_abs_error.index) == (1, True, 1.0, (2,))


def test_uint64_extremes():
    top = np.iinfo(np.uint64).max
    c = compare_arrays(np.array([top, 0], np.uint64), np.array([top, 1], np.uint64), "uint64", TOL)
    assert c.mismatched == 1 and c.mismatches[0].a == 0 and c.mismatches[0].b == 1


def test_strings_and_bools():
    a = np.array([b"x", b"y"], dtype=object)
    c = compare_arrays(a, np.array([b"x", b"z"], dtype=object), "string", TOL)
    assert (c.mismatched, c.mismatches[0].a, c.mismatches[0].b) == (1, b"y", b"z")
    c = compare_arrays(np.array([True, False]), np.array([True, True]), "bool", TOL)
    assert (c.mismatched, c.mismatches[0].index) == (1, (1,))


def test_complex_uses_modulus():
    a = np.array([1 + 1j], np.complex64)
    assert compare_arrays(a, a + np.complex64(3e-6j), "complex64", TOL).within_tolerance
    c = compare_arrays(a, a + np.complex64(1j), "complex64", TOL)
    assert c.mismatched == 1 and c.max_ulp is None


def test_relative_error_where_a_is_zero():
    c = compare_arrays(np.array([0.0, 1.0]), np.array([0.0, 2.0]), "float64", TOL)
    assert (c.max_rel_error.error, c.max_rel_error.index) == (1.0, (1,))   # 0/0 ignored
    c = compare_arrays(np.array([0.0, 1.0]), np.array([1.0, 1.0]), "float64", TOL)
    assert c.max_rel_error.error == np.inf


def test_blocks_give_the_same_answer_as_one_block():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 7)).astype(np.float32)
    b = a + rng.standard_normal((6, 7)).astype(np.float32) * 1e-5
    b[0, 1] = np.nan
    b[5, 6] = a[5, 6] + 1
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    blocks = [(s, flat_a[s:s + 5], flat_b[s:s + 5]) for s in range(0, 42, 5)]
    whole = compare_arrays(a, b, "float32", TOL)
    assert compare_blocks(blocks, (6, 7), "float32", TOL).to_dict() == whole.to_dict()
    assert whole.mismatches[0].index == (0, 1) and np.isnan(whole.mismatches[0].error)


def test_only_the_first_five_mismatches_are_kept_in_c_order():
    a = np.zeros(100)
    b = a.copy()
    b[[97, 3, 50, 10, 20, 30, 40]] = 1
    c = compare_arrays(a, b, "float64", TOL)
    assert c.mismatched == 7
    assert [m.index[0] for m in c.mismatches] == [3, 10, 20, 30, 40]


def test_empty_and_scalar():
    assert compare_arrays(np.zeros((0, 3)), np.zeros((0, 3)), "float64", TOL).size == 0
    c = compare_arrays(np.array(1.0), np.array(2.0), "float64", TOL)
    assert c.mismatches[0].index == ()


def test_json_value_is_strict_json():
    assert [json_value(v) for v in (np.nan, np.inf, -np.inf, 1 + 2j, b"a", np.int8(3))] == \
        ["nan", "inf", "-inf", [1.0, 2.0], "a", 3]
