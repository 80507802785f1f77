"""The relationship detectors on arrays built with a known relation (the expected numbers
are the ones the arrays were built with), each with a negative control that differs only
in the relation."""

from __future__ import annotations

import numpy as np
import pytest

from tftrace.compare.explain import relations, series

RNG = np.random.default_rng(7)
A = RNG.normal(size=(4, 6, 6, 3))
UNRELATED = RNG.normal(size=(4, 6, 6, 3))


def codes(a, b, dtype_a="float32", dtype_b="float32", shapes=()):
    return {code for code, _ in relations.relate(a, b, dtype_a, dtype_b, shapes)}


def test_scaled_reports_c():
    found = dict(relations.relate(A, 2.0 * A, "float32", "float32"))
    assert found["scaled"]["c"] == 2.0 and found["scaled"]["residual"] < 1e-12
    assert codes(A, 2.0 * A + 0.1 * UNRELATED) == set()


def test_a_scalar_is_scaled_only_by_a_simple_factor():
    assert codes(np.array(0.2), np.array(0.4)) == {"scaled"}
    assert codes(np.array(0.2), np.array(0.2 * 1.37)) == set()  # any two numbers have some c
    assert codes(np.full(8, 1.0), np.full(8, 1.37)) == set()  # a constant array is no better


def test_per_channel_scale():
    c = np.array([0.99, 0.995, 0.998])
    found = dict(relations.relate(A, A * c, "float32", "float32"))
    assert found["scaled"]["c"] == pytest.approx(list(c)) and found["scaled"]["axis"] == 3


def test_identical_rows_are_no_evidence_of_a_per_channel_scale():
    rows = np.tile(np.array([[0.3, -1.2, 2.0]], np.float32), (8, 1))  # 8 identical rows
    gelu_like = rows * (1 / (1 + np.exp(-1.702 * rows)))  # an elementwise change, not a scale
    assert "scaled" not in codes(rows, gelu_like)
    varied = rows * np.linspace(0.5, 1.5, 8, dtype=np.float32)[:, None]  # the control: rows differ
    c = np.array([0.99, 0.995, 0.998], np.float32)
    assert dict(relations.relate(varied, varied * c, "float32", "float32"))["scaled"]["c"] == \
        pytest.approx(list(c), rel=1e-5)


def test_offset_and_sign_flip():
    assert dict(relations.relate(A, A - 1.0, "float32", "float32"))["offset"]["c"] == -1.0
    assert codes(A, -A) == {"sign-flip"}
    assert codes(A, A + 0.5 * UNRELATED) == set()


@pytest.mark.parametrize("order, layout", [((0, 3, 1, 2), "NHWC->NCHW"), ((0, 2, 3, 1), "NCHW->NHWC")],
                         ids=["nhwc-to-nchw", "nchw-to-nhwc"])
def test_permuted_names_the_layout(order, layout):
    flat_a = np.transpose(A, order).reshape(4, -1)  # A flattens in another layout
    flat_b = A.reshape(4, -1)
    found = dict(relations.relate(flat_a, flat_b, "float32", "float32", [A.shape]))
    assert found["permuted"]["a_axes"] == list(order) and found["permuted"]["layout"] == layout


def test_a_transposed_kernel_is_permuted_and_a_reshape_is_not():
    kernel = RNG.normal(size=(5, 3))
    assert dict(relations.relate(kernel, kernel.T, "float32", "float32"))["permuted"]["a_axes"] == [1, 0]
    assert "permuted" not in codes(kernel, kernel.reshape(3, 5))
    assert "permuted" not in codes(kernel, RNG.normal(size=(3, 5)))


def test_masked_gives_the_zero_fractions_and_ratio():
    uniform = RNG.random(A.shape)
    kept_a = np.where(uniform >= 0.2, A / 0.8, 0.0)  # keep 0.8
    kept_b = np.where(uniform >= 0.8, A / 0.2, 0.0)  # keep 0.2 on the same draws
    found = dict(relations.relate(kept_a, kept_b, "float32", "float32"))["masked"]
    assert found["kept_ratio"] == 4.0 and found["nested"]
    assert found["zeros_a"] == pytest.approx(0.2, abs=0.05) and found["zeros_b"] == pytest.approx(0.8, abs=0.05)
    rounded = np.where(uniform >= 0.2, A, 0.0)
    assert "masked" not in codes(rounded, np.where(uniform >= 0.3, A, 0.0))  # same values, B/A = 1


def test_lower_precision_is_judged_from_the_dtype_only():
    import ml_dtypes

    narrow = A.astype(np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)
    found = dict(relations.relate(A, narrow, "float32", "bfloat16"))["lower-precision"]
    assert found["equal_to_rounded"] == 1.0 and found["narrow_side"] == "b"
    assert "lower-precision" not in codes(A, narrow)  # float32 both sides: not evidence


def test_noise_is_round_off_everywhere():
    nudged = (A.astype(np.float32) * np.float32(1 + 2 ** -22)).astype(np.float64)
    found = dict(relations.relate(A.astype(np.float32).astype(np.float64), nudged, "float32", "float32"))
    assert found["noise"]["max_ulp"] <= 4 and found["noise"]["norm_rel"] < 1e-6
    assert "noise" not in codes(A, A * 1.01)


@pytest.mark.parametrize("a, b", [(np.zeros(0), np.zeros(0)), (np.zeros((0, 3)), np.zeros((3, 0))),
                                  (np.zeros(()), np.ones(())), (np.zeros(5), np.zeros(5))],
                         ids=["empty", "empty-reshaped", "zero-scalar", "zeros"])
def test_degenerate_arrays_are_not_related(a, b):
    assert codes(a, b) == set()


def test_nan_is_not_related():
    b = A.copy()
    b[0, 0, 0, 0] = np.nan
    assert codes(A, 2 * b) == set()


def test_lagged_and_stale_series():
    values = [RNG.normal(size=5) for _ in range(4)]
    steps = [0, 1, 2, 3]
    lag = series.lagged(steps, values, [values[0] * 0.5] + values[:3], initial_a=values[0] * 0.5)
    assert lag == {"lag": 1, "steps": [1, 2, 3], "first_step_equals_initial_value": True}
    assert series.lagged(steps, values, values) is None
    assert series.lagged(steps, values, [v + 1 for v in values]) is None
    assert series.stale(steps, values, [values[0]] * 4) == {"side": "b", "steps": steps}
    assert series.stale(steps, values, values) is None
    assert series.stale(steps, [values[0]] * 4, [values[1]] * 4) is None  # both frozen
