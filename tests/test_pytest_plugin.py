"""The pytest plugin (``tftrace_golden``), run on real TensorFlow in pytest subprocesses.

Each ``pytester.runpytest_subprocess`` is a fresh pytest process that loads the plugin
through its ``pytest11`` entry point, as a user's session does, so no TensorFlow
state leaks between runs or into this process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tftrace
from tftrace.report.html import unpack_data

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.slow

MODEL_TESTS = """
    import pytest
    import tensorflow as tf

    SCALE = {scale}

    def model(x):
        kernel = tf.random.normal([3, 2])
        return tf.matmul(x, kernel) * SCALE

    def test_forward(tftrace_golden):
        with tftrace_golden.record(seed=42) as rec:
            rec.endpoint("logits", model(tf.ones([4, 3])))

    @pytest.mark.parametrize("width", [1, 2], ids=["narrow", "wide"])
    def test_ones(tftrace_golden, width):
        with tftrace_golden.record() as rec:
            rec.endpoint("ones", tf.ones([width]) * width)

    @pytest.mark.tftrace(rtol=0.5)
    def test_tolerant(tftrace_golden):
        with tftrace_golden.record() as rec:
            rec.endpoint("scaled", tf.constant([1.0, 2.0]) * SCALE)
"""

GOLDENS = {
    "test_forward": "test_model/test_forward.zarr.zip",
    "test_ones[narrow]": "test_model/test_ones_narrow.zarr.zip",
    "test_ones[wide]": "test_model/test_ones_wide.zarr.zip",
    "test_tolerant": "test_model/test_tolerant.zarr.zip",
}
OBTAINED = "test_model/test_forward.obtained.zarr.zip"
REPORT = "test_model/test_forward.diff.html"


def write_model_tests(pytester: pytest.Pytester, scale: float) -> None:
    pytester.makepyfile(test_model=textwrap.dedent(MODEL_TESTS.format(scale=scale)))


def logits_and_kernel(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with tftrace.open(path) as trace:
        (kernel_event,) = [e for e in trace.events if e.kind == "random_op"]
        return trace.array("logits", step=0), trace.array(kernel_event)


def test_golden_written_then_compared_then_regenerated(pytester: pytest.Pytester) -> None:
    write_model_tests(pytester, scale=2.0)
    goldens = {test: pytester.path / rel for test, rel in GOLDENS.items()}

    # 1. No goldens: each is written from the run, and its test fails saying so.
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    first.assert_outcomes(failed=4)
    for test, golden in goldens.items():
        assert golden.is_file(), test
        first.stdout.fnmatch_lines([
            f"tftrace: no golden trace for this test yet; wrote one from this run to {GOLDENS[test]}"])
    first.stdout.fnmatch_lines(["*tftrace: 4 golden traces written (their tests failed*",
                                f"  {GOLDENS['test_forward']}"])
    logits, kernel = logits_and_kernel(goldens["test_forward"])
    np.testing.assert_allclose(logits, np.ones([4, 3], np.float32) @ kernel * 2.0, rtol=1e-6)
    with tftrace.open(goldens["test_ones[wide]"]) as trace:
        np.testing.assert_array_equal(trace.array("ones", step=0), [2.0, 2.0])

    # 2. Same code: every test passes against its golden, no obtained trace is left.
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)
    assert not list(pytester.path.rglob("*.obtained.zarr.zip"))

    # 3. The model changed: the test fails with the whole report, the golden is kept
    #    and this run's trace is kept beside it. test_tolerant is within its marker's rtol.
    write_model_tests(pytester, scale=2.5)
    golden_bytes = goldens["test_forward"].read_bytes()
    changed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    changed.assert_outcomes(failed=1, passed=3)
    changed.stdout.fnmatch_lines([
        "*_ test_forward _*",
        "tftrace: this run's trace diverges from the golden trace",
        f"  golden:   {GOLDENS['test_forward']}",
        f"  obtained: {OBTAINED} (kept for inspection: tftrace diff {GOLDENS['test_forward']} {OBTAINED})",
        f"  report:   {REPORT} (open it in a browser)",
        "If the new numbers are the right ones, rewrite the golden with",
        "  pytest --tftrace-regen test_model.py::test_forward",
        "tftrace diff: DIVERGED",
        f"  A: {GOLDENS['test_forward']} (*",
        f"  B: {OBTAINED} (*",
        "First divergence: endpoint 'logits', step 0",
        "  Mismatched elements: 8 / 8 (100%)",
        "  broke first: computation*",
        "Summary*",
    ])
    assert goldens["test_forward"].read_bytes() == golden_bytes
    obtained_logits, obtained_kernel = logits_and_kernel(pytester.path / OBTAINED)
    np.testing.assert_array_equal(obtained_kernel, kernel)  # same seed, same random values
    np.testing.assert_allclose(obtained_logits, logits * 1.25, rtol=1e-6)
    # the HTML report of the same diff is beside them, with both traces' values read
    page = (pytester.path / REPORT).read_text(encoding="utf-8")
    assert '<code id="first-name">logits</code>' in page
    data = unpack_data(page)
    assert str(data["first"]) in data["histograms"] and data["stats"]

    # 4. --tftrace-regen rewrites the golden that diverged (only that one) and passes.
    untouched = {test: goldens[test].read_bytes() for test in ("test_ones[wide]", "test_tolerant")}
    regen = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tftrace-regen")
    regen.assert_outcomes(passed=4)
    regen.stdout.fnmatch_lines(["*tftrace: 1 golden trace rewritten by --tftrace-regen*",
                                f"  {GOLDENS['test_forward']}"])
    new_logits, _ = logits_and_kernel(goldens["test_forward"])
    np.testing.assert_allclose(new_logits, np.ones([4, 3], np.float32) @ kernel * 2.5, rtol=1e-6)
    assert not (pytester.path / OBTAINED).exists() and not (pytester.path / REPORT).exists()
    for test, content in untouched.items():
        assert goldens[test].read_bytes() == content, test

    # 5. And the new golden holds.
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_misuse_fails_the_test_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_misuse=textwrap.dedent("""
        import pytest
        import tensorflow as tf
        import tftrace

        def test_records_nothing(tftrace_golden):
            assert tf.constant(1.0) == 1.0

        def test_body_raises(tftrace_golden):
            with tftrace_golden.record() as rec:
                rec.endpoint("x", tf.constant(1.0))
                raise ValueError("the model broke")

        def test_records_twice(tftrace_golden):
            with tftrace_golden.record():
                with tftrace_golden.record():
                    pass

        def test_check_a_trace_recorded_elsewhere(tftrace_golden, tmp_path):
            with tftrace.record(tmp_path / "run.zarr") as rec:
                rec.endpoint("x", tf.constant([3.0]))
            tftrace_golden.check(tmp_path / "run.zarr")

        @pytest.mark.tftrace(rtool=1e-3)
        def test_misspelt_marker(tftrace_golden):
            with tftrace_golden.record() as rec:
                rec.endpoint("x", tf.constant(1.0))
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines([
        "*_ test_records_nothing _*",
        ("tftrace: test_misuse.py::test_records_nothing uses tftrace_golden but recorded nothing; "
         "expected `with tftrace_golden.record(...):` or tftrace_golden.check(trace) in the test"),
        "*_ test_body_raises _*",
        "*ValueError: the model broke",
        "*_ test_records_twice _*",
        ("*UsageError: test_misuse.py::test_records_twice: tftrace_golden compares one trace per "
         "test; expected one record() or check(), got a second one. Split the test in two"),
        "*_ test_check_a_trace_recorded_elsewhere _*",
        ("tftrace: no golden trace for this test yet; wrote one from this run to "
         "test_misuse/test_check_a_trace_recorded_elsewhere.zarr.zip"),
        "*_ test_misspelt_marker _*",
        ("*UsageError: test_misuse.py::test_misspelt_marker: @pytest.mark.tftrace: expected "
         "options among rtol, atol, tolerances, tolerances_file, rename, only, ignore; got rtool"),
    ])
    # A test whose body raised writes no golden; the packed directory trace is readable.
    assert not (pytester.path / "test_misuse/test_body_raises.zarr.zip").exists()
    checked = pytester.path / "test_misuse/test_check_a_trace_recorded_elsewhere.zarr.zip"
    with tftrace.open(checked) as trace:
        np.testing.assert_array_equal(trace.array("x", step=0), [3.0])


def test_golden_paths_are_safe_file_names(pytester: pytest.Pytester) -> None:
    # Collection only (no TensorFlow): the names the goldens would get.
    pytester.makepyfile(test_names=textwrap.dedent("""
        import pytest
        from tftrace.pytest_plugin import golden_path

        @pytest.mark.parametrize("shape", [(2, 3), "a/b c"])
        def test_shapes(request, shape):
            print("GOLDEN", golden_path(request.node).relative_to(request.config.rootpath))

        class TestModel:
            def test_forward(self, request):
                print("GOLDEN", golden_path(request.node).relative_to(request.config.rootpath))

        @pytest.mark.parametrize("name", ["a b", "a_b"])
        def test_clash(tftrace_golden, name):
            pytest.skip("only the fixture's setup matters")
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=3, skipped=1, errors=1)
    result.stdout.fnmatch_lines([
        "*GOLDEN test_names/test_shapes_shape0.zarr.zip",
        "*GOLDEN test_names/test_shapes_a_b_c.zarr.zip",
        "*GOLDEN test_names/TestModel.test_forward.zarr.zip",
    ])
    # fnmatch would read "[a_b]" as a character class
    result.stdout.re_match_lines([
        r".*ERROR at setup of test_clash\[a_b\]",
        (r"E +tftrace.errors.UsageError: test_names.py::test_clash\[a_b\] and "
         r"test_names.py::test_clash\[a b\] would share the golden trace "
         r"test_names/test_clash_a_b.zarr.zip; give them ids that still differ when only "
         r"letters, digits, '_', '-' and '.' are kept"),
    ])


def test_bad_ini_tolerance_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntftrace_atol = 1e-5x\n")
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option tftrace_atol: expected a number, got '1e-5x'"])


def test_plugin_import_does_not_import_tensorflow() -> None:
    code = ("import sys, tftrace.pytest_plugin; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


TOLERANCE_FILE_TESTS = """
    import pytest
    import tensorflow as tf

    SCALE = {scale}

    @pytest.mark.tftrace(tolerances_file={tol!r})
    def test_calibrated(tftrace_golden):
        with tftrace_golden.record() as rec:
            rec.endpoint("scaled", tf.constant([1.0, 2.0]) * SCALE)

    def test_default(tftrace_golden):
        with tftrace_golden.record() as rec:
            rec.endpoint("scaled", tf.constant([1.0, 2.0]) * SCALE)
"""


def test_marker_takes_a_tolerances_file(pytester: pytest.Pytester) -> None:
    """A calibrated file widens the comparison of its names; the default still fails."""
    tol = pytester.path / "tol.json"
    tol.write_text('{"format": "tftrace-tolerances", "version": 1, "names": '
                   '{"scaled": {"measure": "norm_relative", "limit": 0.01}}}')
    for scale, outcomes in ((1.0, {"failed": 2}), (1.001, {"passed": 1, "failed": 1})):
        pytester.makepyfile(test_tol=textwrap.dedent(TOLERANCE_FILE_TESTS.format(
            scale=scale, tol=str(tol))))
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(["*test_default*"])
