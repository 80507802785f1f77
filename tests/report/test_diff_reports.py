"""The text, JSON and JUnit renderings of one diff result."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest


from tftrace.compare.divergence import diff  # noqa: E402
from tftrace.report.json import render_json  # noqa: E402
from tftrace.report.junit import render_junit  # noqa: E402
from tftrace.report.text import render_text  # noqa: E402
from tftrace.testing import assert_equivalent  # noqa: E402


@pytest.fixture
def one_weight(tmp_path, var, write_trace):
    w = np.array([[1, 2], [3, 4]], np.float32)
    changed = w.copy()
    changed[1, 0] = 3.5
    return (write_trace(tmp_path / "a.zarr", [var("w", w)]),
            write_trace(tmp_path / "b.zarr", [var("w", changed)]))


def test_text_report_of_one_changed_weight(one_weight):
    a, b = one_weight
    # 0.5 / 3 in float32 is 0.16666667...; float32 spacing in [2, 4) is 2**-22, so
    # 0.5 is 2**21 = 2097152 ULP.
    expected = f"""\
tftrace diff: DIVERGED
  A: {a} (1 event)
  B: {b} (1 event)
  tolerance: rtol=1e-06, atol=1e-05

First divergence: variable 'w', step 0
  sequence: A #0, B #0
  shape and dtype: A [2, 2] float32, B [2, 2] float32
  Mismatched elements: 1 / 4 (25%)
  Max absolute difference: 0.5 at [1, 0] (A 3, B 3.5)
  Max relative difference: 0.166666672 at [1, 0] (A 3, B 3.5)
  First mismatched elements:
    [1, 0]: A 3, B 3.5
  Max ULP distance: 2097152
  call sites: A model.py:10, B model.py:10
  broke first: variable initial values: the runs start from different weights. Check initializers, seeds and checkpoints, or give B A's initial values with tftrace.replay.

Summary (close: within tolerance, not equal):
  kind          compared     equal     close  diverged   missing     extra
  variables            1         0         0         1         0         0
  random ops           0         0         0         0         0         0
  endpoints            0         0         0         0         0         0
  snapshots            0         0         0         0         0         0
"""
    assert render_text(diff(a, b)) == expected


def test_text_report_names_the_extra_random_op_and_the_shift(tmp_path, rnd, write_trace):
    ops = [rnd("RandomUniform", (3,), seed=s) for s in range(5)]
    extra = rnd("RandomUniform", (128, 10), seed=9)
    a = write_trace(tmp_path / "a.zarr", ops)
    b = write_trace(tmp_path / "b.zarr", ops[:2] + [extra] + ops[2:])
    text = render_text(diff(a, b, only="random"))
    # The extra op is B's third event (call site model.py:12) and third random op (#2);
    # A's ops #2, #3, #4 follow it, one position later in B.
    assert ("Random ops: B has an extra RandomUniform [128, 10] at #2 (seq 2, model.py:12); "
            "the 3 random ops after it are shifted by one.") in text
    assert "  compared: random ops\n" in text
    assert "broke first: random op structure" in text


def test_all_lists_every_pair(one_weight):
    text = render_text(diff(*one_weight), show_all=True)
    assert text.endswith("All pairs:\n  diverged variable 'w' (step 0): 1 / 4 elements mismatched "
                         "(25%); max abs error 0.5; max rel error 0.166667; max 2097152 ULP\n")


def test_colour_only_when_asked(one_weight):
    assert "\x1b[" not in render_text(diff(*one_weight))
    assert "\x1b[31mDIVERGED\x1b[0m" in render_text(diff(*one_weight), color=True)


def test_json_report_is_strict_and_versioned(tmp_path, ev, write_trace):
    a = write_trace(tmp_path / "a.zarr", [ev("endpoint", "x", np.array([np.nan, np.inf], np.float32))])
    b = write_trace(tmp_path / "b.zarr", [ev("endpoint", "x", np.array([1.0, np.inf], np.float32))])
    text = render_json(diff(a, b))
    document = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert document["report_version"] == 4
    assert document["first_divergence"]["diagnosis"] == []  # NaN and Inf are not related
    assert document["diagnosis"] == []
    assert document["first_divergence"]["values"]["mismatches"][0]["a"] == "nan"
    assert set(document) >= {"equivalent", "a", "b", "tolerance", "summary", "pairs", "broken_stream"}


def test_junit_has_one_testcase_per_pair_and_failures(tmp_path, ev, var, write_trace):
    a = write_trace(tmp_path / "a.zarr", [var("x", [1.0]), var("y", [2.0]), ev("endpoint", "out", [3.0])])
    b = write_trace(tmp_path / "b.zarr", [var("x", [1.0]), var("y", [2.5]), ev("endpoint", "out", [3.0])],
                    complete=False)
    root = ET.fromstring(render_junit(diff(a, b)))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert [c.get("name") for c in suites["tftrace.variables"]] == ["x @ step 0", "y @ step 0"]
    assert suites["tftrace.variables"].get("failures") == "1"
    failure = suites["tftrace.variables"].find("testcase[@name='y @ step 0']/failure")
    assert "Mismatched elements: 1 / 1 (100%)" in failure.text
    # The incomplete B is a failing testcase of its own.
    assert suites["tftrace.traces"].get("failures") == "1"
    assert root.get("failures") == "2" and root.get("tests") == "6"


def test_assert_equivalent_raises_with_the_report(one_weight):
    a, b = one_weight
    assert assert_equivalent(a, a).equivalent
    with pytest.raises(AssertionError, match=r"(?s)First divergence: variable 'w'.*Max ULP distance"):
        assert_equivalent(a, b)
    assert_equivalent(a, b, atol=1.0)
