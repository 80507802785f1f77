"""pytest plugin: golden-trace tests (registered through the ``pytest11`` entry point).

A test asks for the ``tftrace_golden`` fixture, records its model inside
``tftrace_golden.record(...)``, and the trace is compared with the golden trace kept
next to the test file, ``<dir>/<test module>/<test name>.zarr.zip``::

    def test_forward(tftrace_golden):
        with tftrace_golden.record(seed=42) as rec:
            rec.endpoint("logits", model(x))

* No golden yet: it is written from this run and the test fails saying so.
* Divergence: the test fails with the whole ``tftrace diff`` text report; the
  obtained trace is kept beside the golden as ``<test name>.obtained.zarr.zip``, with
  the HTML report of the diff as ``<test name>.diff.html`` (both removed again once
  the test passes).
* ``pytest --tftrace-regen``: goldens that are missing or diverge are rewritten from
  this run and the tests pass; the terminal summary lists the files rewritten.

pytest loads this module in every session of every project where tftrace is
installed, so it does not import TensorFlow, the recorder or the diff: they are
imported when a test records or compares.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator, Iterable, Iterator, Mapping

import pytest

if TYPE_CHECKING:
    from tftrace.compare.result import DiffResult
    from tftrace.recording.recorder import Recorder

#: Keyword options of ``record()`` / ``check()`` / the ``tftrace`` marker that go to the diff.
COMPARE_OPTIONS = ("rtol", "atol", "tolerances", "tolerances_file", "rename", "only", "ignore")
GOLDEN_SUFFIX = ".zarr.zip"
OBTAINED_SUFFIX = ".obtained.zarr.zip"
HTML_REPORT_SUFFIX = ".diff.html"
# user_properties keys (they travel from pytest-xdist workers to the controller)
_WRITTEN = "tftrace_golden_written"
_REWRITTEN = "tftrace_golden_rewritten"
_MAX_NAME = 120

_golden_owners_key = pytest.StashKey[dict[Path, str]]()
_ini_tolerance_key = pytest.StashKey[tuple[float | None, float | None]]()


# -- options and marker ---------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tftrace", "tftrace golden traces")
    group.addoption("--tftrace-regen", action="store_true", default=False,
                    help="rewrite golden traces that are missing or diverge from this run "
                         "(tests using tftrace_golden then pass)")
    parser.addini("tftrace_rtol", "default rtol for tftrace_golden comparisons (1e-6)",
                  default=None)
    parser.addini("tftrace_atol", "default atol for tftrace_golden comparisons (1e-5)",
                  default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tftrace(rtol=, atol=, tolerances=, tolerances_file=, rename=, only=, ignore=): comparison "
        "options for the "
        "tftrace_golden fixture (a closer marker overrides a farther one)")
    config.stash[_golden_owners_key] = {}
    # checked now, so a typo is a usage error of the session, not a failure of every test
    config.stash[_ini_tolerance_key] = (_ini_float(config, "tftrace_rtol"),
                                        _ini_float(config, "tftrace_atol"))
    config.pluginmanager.register(GoldenSummary(), "tftrace-golden-summary")


# -- the fixture ----------------------------------------------------------------------

class GoldenTrace:
    """Compares the trace a test records with its golden trace; the ``tftrace_golden`` fixture.

    Attributes
    ----------
    path : pathlib.Path
        The golden trace, ``<test dir>/<test module>/<test name>.zarr.zip``.
    obtained_path : pathlib.Path
        Where this run's trace is kept when it diverges from the golden.
    report_path : pathlib.Path
        Where the HTML report of that diff is written, ``<test name>.diff.html``.
    regen : bool
        ``--tftrace-regen`` was given: missing or diverging goldens are rewritten.
    """

    def __init__(self, item: pytest.Item, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.path = golden_path(item)
        self.obtained_path = self.path.with_name(self.path.name[:-len(GOLDEN_SUFFIX)]
                                                 + OBTAINED_SUFFIX)
        self.report_path = self.path.with_name(self.path.name[:-len(GOLDEN_SUFFIX)]
                                               + HTML_REPORT_SUFFIX)
        self.regen = bool(item.config.getoption("tftrace_regen"))
        self.used = False
        self._item = item
        self._tmp_path_factory = tmp_path_factory

    def record(self, *, seed: int = 42, seed_mode: str = "num_random_ops", capture: str = "full",
               rtol: float | None = None, atol: float | None = None,
               tolerances: Mapping[str, Any] | Iterable[str] | None = None,
               rename: Iterable[Any] | None = None,
               only: str | Iterable[str] | None = None,
               tolerances_file: str | os.PathLike[str] | None = None,
               ignore: str | Iterable[str] | None = None,
               ) -> contextlib.AbstractContextManager[Recorder]:
        """Record the ``with`` block, then compare the trace with the golden.

        Parameters
        ----------
        seed, seed_mode, capture
            As for :func:`tftrace.record`.
        rtol, atol, tolerances, rename, only, tolerances_file, ignore
            As for :func:`tftrace.diff` (``tolerances_file``: ``tftrace calibrate``'s
            output; ``ignore``: name globs left out, counted in the report). Unset ones come from the closest
            ``@pytest.mark.tftrace(...)`` marker, then the ``tftrace_rtol`` /
            ``tftrace_atol`` ini options, then tftrace's defaults (1e-6, 1e-5).

        Returns
        -------
        context manager
            Yields the :class:`~tftrace.recording.recorder.Recorder`. When the block
            ends normally the trace is compared (see :meth:`check`); when it raises,
            the exception propagates and nothing is compared.
        """
        compare = {"rtol": rtol, "atol": atol, "tolerances": tolerances, "rename": rename,
                   "only": only, "tolerances_file": tolerances_file, "ignore": ignore}
        return self._record(seed=seed, seed_mode=seed_mode, capture=capture, compare=compare)

    @contextlib.contextmanager
    def _record(self, *, seed: int, seed_mode: str, capture: str,
                compare: dict[str, Any]) -> Iterator[Recorder]:
        from tftrace.recording.recorder import record

        self._claim()
        obtained = self._tmp_path_factory.mktemp("tftrace") / self.path.name
        with record(obtained, seed=seed, seed_mode=seed_mode, capture=capture) as recorder:
            yield recorder
        self._check(obtained, compare)

    def check(self, trace: str | os.PathLike[str], *, rtol: float | None = None,
              atol: float | None = None,
              tolerances: Mapping[str, Any] | Iterable[str] | None = None,
              rename: Iterable[Any] | None = None,
              only: str | Iterable[str] | None = None,
              tolerances_file: str | os.PathLike[str] | None = None,
              ignore: str | Iterable[str] | None = None) -> DiffResult | None:
        """Compare a trace recorded some other way (a subprocess, ``tftrace record``) with the golden.

        Parameters
        ----------
        trace : path-like
            A ``.zarr`` directory or ``.zarr.zip`` file; it is copied, never moved.
        rtol, atol, tolerances, rename, only, tolerances_file, ignore
            As for :meth:`record`.

        Returns
        -------
        DiffResult or None
            The comparison with the golden; None when the golden was just written.

        Raises
        ------
        pytest.fail.Exception
            The golden was missing (it is written now), or the trace diverges from it.
        """
        self._claim()
        return self._check(Path(trace), {"rtol": rtol, "atol": atol, "tolerances": tolerances,
                                         "rename": rename, "only": only,
                                         "tolerances_file": tolerances_file,
                                         "ignore": ignore})

    # -- internals -------------------------------------------------------------------

    def _claim(self) -> None:
        from tftrace.errors import UsageError

        if self.used:
            raise UsageError(
                f"{self._item.nodeid}: tftrace_golden compares one trace per test; expected "
                f"one record() or check(), got a second one. Split the test in two")
        self.used = True

    def _check(self, obtained: Path, explicit: dict[str, Any]) -> DiffResult | None:
        from tftrace.compare.divergence import diff
        from tftrace.format.pack import pack_trace
        from tftrace.report.text import render_text

        options = self._compare_options(explicit)
        shown = _display(self.path, self._item.config)
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pack_trace(obtained, self.path, overwrite=True)
            self._remove_obtained()
            if self.regen:
                self._item.user_properties.append((_REWRITTEN, shown))
                return None
            self._item.user_properties.append((_WRITTEN, shown))
            pytest.fail(f"tftrace: no golden trace for this test yet; wrote one from this run "
                        f"to {shown}\nCheck that it holds the numbers you expect "
                        f"(tftrace show {shown}), commit it with the test, and re-run the test.",
                        pytrace=False)
        result = diff(self.path, obtained, **options)
        if result.equivalent:
            self._remove_obtained()
            return result
        if self.regen:
            pack_trace(obtained, self.path, overwrite=True)
            self._remove_obtained()
            self._item.user_properties.append((_REWRITTEN, shown))
            return result
        pack_trace(obtained, self.obtained_path, overwrite=True)
        kept = _display(self.obtained_path, self._item.config)
        # the report names the files the user can open, not the temporary recording
        result = dataclasses.replace(result, a=dataclasses.replace(result.a, path=shown),
                                     b=dataclasses.replace(result.b, path=kept))
        pytest.fail(
            f"tftrace: this run's trace diverges from the golden trace\n"
            f"  golden:   {shown}\n"
            f"  obtained: {kept} (kept for inspection: tftrace diff {shown} {kept})\n"
            f"  report:   {self._write_report(result)}\n"
            f"If the new numbers are the right ones, rewrite the golden with\n"
            f"  pytest --tftrace-regen {self._item.nodeid}\n\n"
            + render_text(result), pytrace=False)
        return None  # unreachable: pytest.fail raises

    def _compare_options(self, explicit: Mapping[str, Any]) -> dict[str, Any]:
        from tftrace.compare.tolerance import DEFAULT_ATOL, DEFAULT_RTOL
        from tftrace.errors import UsageError

        ini_rtol, ini_atol = self._item.config.stash[_ini_tolerance_key]
        options: dict[str, Any] = {
            "rtol": DEFAULT_RTOL if ini_rtol is None else ini_rtol,
            "atol": DEFAULT_ATOL if ini_atol is None else ini_atol,
        }
        # farthest marker first, so a closer one (function over class over module) wins
        for mark in reversed(list(self._item.iter_markers("tftrace"))):
            if mark.args:
                raise UsageError(f"{self._item.nodeid}: @pytest.mark.tftrace takes keyword "
                                 f"options only ({', '.join(COMPARE_OPTIONS)}); got "
                                 f"positional {mark.args!r}")
            unknown = sorted(set(mark.kwargs) - set(COMPARE_OPTIONS))
            if unknown:
                raise UsageError(f"{self._item.nodeid}: @pytest.mark.tftrace: expected options "
                                 f"among {', '.join(COMPARE_OPTIONS)}; got {', '.join(unknown)}")
            options.update(mark.kwargs)
        options.update({key: value for key, value in explicit.items() if value is not None})
        return options

    def _write_report(self, result: DiffResult) -> str:
        """Write the HTML report beside the obtained trace; say where, or why not."""
        from tftrace.errors import TftraceError
        from tftrace.report.html import render_html

        try:
            page = render_html(result, traces=(self.path, self.obtained_path))
            self.report_path.write_text(page, encoding="utf-8")
        except (TftraceError, OSError) as exc:  # the divergence is the failure, not this
            return f"not written ({exc})"
        return f"{_display(self.report_path, self._item.config)} (open it in a browser)"

    def _remove_obtained(self) -> None:
        for path in (self.obtained_path, self.report_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@pytest.fixture
def tftrace_golden(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> GoldenTrace:
    """Compare what the test records with its golden trace (see :class:`GoldenTrace`)."""
    golden = GoldenTrace(request.node, tmp_path_factory)
    owners = request.config.stash[_golden_owners_key]
    owner = owners.setdefault(golden.path, request.node.nodeid)
    if owner != request.node.nodeid:
        from tftrace.errors import UsageError

        raise UsageError(f"{request.node.nodeid} and {owner} would share the golden trace "
                         f"{_display(golden.path, request.config)}; give them ids that still "
                         f"differ when only letters, digits, '_', '-' and '.' are kept")
    return golden


def golden_path(item: pytest.Item) -> Path:
    """``<test dir>/<test module>/<test name>.zarr.zip`` for a test item.

    The name is the node id after the file (``TestModel::test_forward[relu-2]``) with
    ``::`` as ``.`` and every run of other characters than letters, digits, ``_``,
    ``-`` and ``.`` as ``_``: ``TestModel.test_forward_relu-2``. Names longer than 120
    characters are cut and end with a hash of the whole name.
    """
    test_file = Path(item.path)
    name = "::".join(item.nodeid.split("::")[1:]) or item.name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("::", ".")).strip("_.") or "test"
    if len(safe) > _MAX_NAME:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
        safe = f"{safe[:_MAX_NAME - 11]}-{digest}"
    return test_file.parent / test_file.stem / f"{safe}{GOLDEN_SUFFIX}"


# -- "the test never recorded" is a failure of the test, not a teardown error ---------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    outcome = yield
    golden = getattr(item, "funcargs", {}).get("tftrace_golden")
    if (isinstance(golden, GoldenTrace) and not golden.used and outcome.excinfo is None
            and hasattr(outcome, "force_exception")):
        outcome.force_exception(pytest.fail.Exception(
            f"tftrace: {item.nodeid} uses tftrace_golden but recorded nothing; expected "
            f"`with tftrace_golden.record(...):` or tftrace_golden.check(trace) in the test",
            pytrace=False))


# -- terminal summary: which goldens were (re)written ---------------------------------

class GoldenSummary:
    """Collects the goldens written in this session and lists them at the end.

    They travel as ``user_properties`` of the test reports, so the list is complete
    under pytest-xdist too (the controller receives every worker's reports).
    """

    def __init__(self) -> None:
        self.written: list[str] = []
        self.rewritten: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":  # setup and teardown reports carry the same properties
            return
        for key, value in report.user_properties:
            if key == _WRITTEN:
                self.written.append(str(value))
            elif key == _REWRITTEN:
                self.rewritten.append(str(value))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for paths, what in ((self.written, "written (their tests failed: review, commit, re-run)"),
                            (self.rewritten, "rewritten by --tftrace-regen")):
            if paths:
                noun = "golden trace" if len(paths) == 1 else "golden traces"
                terminalreporter.write_sep("-", f"tftrace: {len(paths)} {noun} {what}")
                for path in paths:
                    terminalreporter.write_line(f"  {path}")


# -- helpers --------------------------------------------------------------------------

def _ini_float(config: pytest.Config, name: str) -> float | None:
    raw = config.getini(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"ini option {name}: expected a number, got {raw!r}") from None


def _display(path: Path, config: pytest.Config) -> str:
    """The path relative to the rootdir when it is inside it (shorter messages)."""
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)
