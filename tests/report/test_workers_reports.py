"""Worker-set diffs in every report format, and their progress bar.

The worker sets are committed sample traces (real TensorFlow recordings) copied under a
``{worker}`` pattern: worker 1 of B is the batch-norm pitfall run (it diverges at the
moving mean in step 1, sample_traces/README.md), every other trace the correct run. The
expected reports are those of the single-pair diffs of the same files.
"""

from __future__ import annotations

import html
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.report.browser import chromium as _chromium
from tests.test_progress import run
from tftrace.cli import cli
from tftrace.compare.divergence import diff
from tftrace.compare.workers import SetProgress, diff_workers
from tftrace.format.progress import Work
from tftrace.report.html import render_html
from tftrace.report.junit import render_junit
from tftrace.report.workers import render_workers

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
GOOD = SAMPLES / "bn_pitfall_training_true.zarr.zip"
PITFALL = SAMPLES / "bn_pitfall_training_missing.zarr.zip"
EAGER = SAMPLES / "inception_v2_eager.zarr.zip"
SESSION = SAMPLES / "inception_v2_session.zarr.zip"
FIRST = "batch_normalization/moving_mean:0"


def worker_set(folder: Path, name: str, *traces: Path) -> str:
    """``folder/name-{worker}.zarr.zip``, worker k a copy of ``traces[k]``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, trace in enumerate(traces):
        shutil.copyfile(trace, folder / f"{name}-{k}.zarr.zip")
    return str(folder / f"{name}-{{worker}}.zarr.zip")


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sets")
    return {"a": worker_set(root, "a", GOOD, GOOD), "b": worker_set(root, "b", GOOD, PITFALL),
            "same": worker_set(root, "same", GOOD, GOOD)}


def test_junit_holds_each_workers_suites(sets: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "set.xml"
    done = CliRunner().invoke(cli, ["diff", sets["a"], sets["b"], "--format", "junit", "-o", str(out)])
    assert done.exit_code == 1, done.output
    root = ET.parse(out).getroot()
    single = ET.fromstring(render_junit(diff(GOOD, PITFALL)))
    clean = ET.fromstring(render_junit(diff(GOOD, GOOD)))
    by_worker = {k: [s for s in root.findall("testsuite") if s.get("name", "").startswith(f"worker {k}: ")]
                 for k in (0, 1)}
    # worker 1's suites are the single pair's, renamed; worker 0's those of a clean pair
    assert [s.get("name") for s in by_worker[1]] == \
        [f"worker 1: {s.get('name')}" for s in single.findall("testsuite")]
    assert sum(int(s.get("failures", "0")) for s in by_worker[1]) == int(single.get("failures", "")) > 0
    assert sum(int(s.get("failures", "0")) for s in by_worker[0]) == 0
    assert root.get("tests") == str(int(single.get("tests", "")) + int(clean.get("tests", "")))
    assert root.get("failures") == single.get("failures")
    failed = [c for s in by_worker[1] for c in s.iter("testcase") if c.find("failure") is not None]
    assert any(c.get("name") == f"{FIRST} @ step 1" and c.get("classname") == "worker-1.tftrace.snapshot"
               for c in failed)
    control = CliRunner().invoke(cli, ["diff", sets["a"], sets["same"], "--format", "junit"])
    assert control.exit_code == 0 and 'failures="0"' in control.output.splitlines()[1]


def test_junit_lists_what_the_set_left_out_as_skipped(sets: dict[str, str]) -> None:
    result = diff_workers(sets["a"], sets["same"])
    left_out = replace(result, mode="agree", per_replica=("endpoint inputs",),
                       unchecked=("gradient dense/kernel:0",))
    suite = ET.fromstring(render_workers(left_out, "junit")).find("testsuite[@name='tftrace.workers']")
    assert suite is not None and suite.get("skipped") == "2"
    assert [(c.get("name"), c.find("skipped").get("message")) for c in suite.iter("testcase")] == [  # type: ignore[union-attr]
        ("endpoint inputs", "not compared: values differ per replica, so they cannot agree with another layout"),
        ("gradient dense/kernel:0", "not compared: one replica captured, so not known to be mirrored")]


def frames_of(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<iframe [^>]*srcdoc="([^"]*)"', page)]


def test_html_page_summarizes_and_holds_each_workers_report(sets: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "set.html"
    done = CliRunner().invoke(cli, ["diff", sets["a"], sets["b"], "--format", "html", "-o", str(out)])
    assert done.exit_code == 1, done.output
    page = out.read_text(encoding="utf-8")
    assert "<title>tftrace diff (workers): DIVERGED (first on worker 1)</title>" in page
    assert f"<td>snapshot &#x27;{FIRST}&#x27;, step 1</td>" in page or \
        f"<td>snapshot '{FIRST}', step 1</td>" in page
    paths = [(sets["a"].replace("{worker}", str(k)), sets["b"].replace("{worker}", str(k))) for k in (0, 1)]
    # each frame is the page of that worker's own diff, as `diff A B --format html` writes it
    assert frames_of(page) == [render_html(diff(a, b), traces=(a, b)) for a, b in paths]
    assert "<script" not in re.sub(r'srcdoc="[^"]*"', "", page)  # the outer page runs nothing


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    yield from _chromium()


def test_html_page_draws_each_worker_in_a_browser(browser, sets: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "set.html"
    out.write_text(render_workers(diff_workers(sets["a"], sets["b"]), "html"), encoding="utf-8")
    page = browser.context.new_page()
    logged: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: logged.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: logged.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.resolve().as_uri())
    frames = [f for f in page.frames if f != page.main_frame]
    assert len(frames) == 2
    for frame in frames:  # report.js ran in each frame (the policy allows it there)
        frame.wait_for_function("window.tftraceReport && window.tftraceReport.ready", timeout=60_000)
        assert frame.evaluate("window.tftraceReport.errors") == []
    assert [f.evaluate("document.title") for f in frames] == \
        ["tftrace diff: EQUIVALENT", f"tftrace diff: DIVERGED, first at {FIRST}"]
    assert logged == [] and requests == [out.resolve().as_uri()]
    page.close()


def test_set_progress_adds_the_diffs_up_and_finishes_with_the_last() -> None:
    seen: list[Work] = []
    together = SetProgress(seen.append, 3)
    first, second = together.of(0), together.of(1)
    assert first is not None and second is not None
    first(Work(5, 10, 50, 100))
    assert seen[-1] == Work(5, 30, 50, 300)  # two diffs not started: counted as this one
    first(Work(10, 10, 100, 100))
    assert seen[-1] == Work(10, 30, 100, 300) and not seen[-1].finished
    second(Work(12, 12, 120, 120))
    assert seen[-1] == Work(22, 33, 220, 330) and not seen[-1].finished
    last = together.of(2)
    assert last is not None
    last(Work(1, 1, 0, 0))  # the last diff is shorter than the estimate: never finished early
    assert seen[-1] == Work(23, 23, 220, 220) and seen[-1].finished
    assert SetProgress(None, 2).of(0) is None


def test_worker_set_diff_shows_one_bar_on_a_terminal(tmp_path: Path) -> None:
    a = worker_set(tmp_path, "a", EAGER, EAGER)
    b = worker_set(tmp_path, "b", SESSION, SESSION)
    code, stdout, stderr = run(["diff", a, b], terminal=True)
    plain_code, plain_stdout, plain_stderr = run(["diff", a, b], terminal=False)
    assert code == plain_code == 0
    assert stdout == plain_stdout and stdout.startswith("tftrace diff (workers): EQUIVALENT")
    # one bar for both diffs: 632 pairs each (tests/test_progress.py's single pair)
    assert "Comparing" in stderr and "1,264/1,264 pairs" in stderr and "100%" in stderr
    assert stderr.count("100%") == 1
    assert plain_stderr == ""
