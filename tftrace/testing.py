"""Test helpers: ``assert_equivalent`` for golden-trace tests in CI."""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from tftrace.compare.divergence import diff
from tftrace.compare.result import DiffResult
from tftrace.compare.tolerance import DEFAULT_ATOL, DEFAULT_RTOL
from tftrace.format.reader import Trace
from tftrace.report.text import render_text


def assert_equivalent(a: Trace | str | os.PathLike[str], b: Trace | str | os.PathLike[str], *,
                      rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                      tolerances: Mapping[str, Any] | Iterable[str] | None = None,
                      rename: Iterable[Any] | None = None,
                      only: str | Iterable[str] | None = None,
                      tolerances_file: str | os.PathLike[str] | None = None,
                      ignore: str | Iterable[str] | None = None) -> DiffResult:
    """Assert that trace ``b`` is equivalent to the reference trace ``a``.

    Parameters are those of :func:`tftrace.diff`.

    Returns
    -------
    DiffResult
        When equivalent, for further checks.

    Raises
    ------
    AssertionError
        With the whole text report (first divergence, where to look, summary).
    """
    __tracebackhide__ = True  # pytest: the failure is the report, not this function
    result = diff(a, b, rtol=rtol, atol=atol, tolerances=tolerances, rename=rename, only=only,
                  tolerances_file=tolerances_file, ignore=ignore)
    if not result.equivalent:
        raise AssertionError("traces are not equivalent\n" + render_text(result))
    return result
