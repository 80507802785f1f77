from __future__ import annotations

import pytest

from tftrace.compare.tolerance import Tolerance, Tolerances, parse_tolerance_rule
from tftrace.errors import UsageError


def test_defaults_are_the_migration_guides():
    assert Tolerances().for_name("anything") == Tolerance(1e-6, 1e-5)


def test_last_matching_glob_wins():
    tols = Tolerances.build(overrides=["grads/*=1e-4,1e-4", "grads/bn/*=1e-3,0"])
    assert tols.for_name("grads/bn/gamma") == Tolerance(1e-3, 0)
    assert tols.for_name("grads/dense/kernel") == Tolerance(1e-4, 1e-4)
    assert tols.for_name("logits") == Tolerance()


def test_mapping_overrides():
    tols = Tolerances.build(1e-3, 0.0, {"loss": (0.1, 0.2)})
    assert (tols.for_name("loss"), tols.for_name("x")) == (Tolerance(0.1, 0.2), Tolerance(1e-3, 0.0))


@pytest.mark.parametrize("text", ["grads/*", "grads/*=1e-4", "=1,2", "g=a,b", "g=1,2,3"],
                         ids=["no-equals", "one-number", "no-glob", "not-numbers", "three-numbers"])
def test_bad_tol_syntax_is_a_usage_error(text):
    with pytest.raises(UsageError, match="GLOB=RTOL,ATOL"):
        parse_tolerance_rule(text)


@pytest.mark.parametrize("rtol, atol", [(-1, 0), (0, float("nan")), (float("inf"), 0)],
                         ids=["negative", "nan", "inf"])
def test_bad_tolerance_values(rtol, atol):
    with pytest.raises(UsageError, match="finite number >= 0"):
        Tolerance(rtol, atol)
