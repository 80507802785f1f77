"""No string from a trace reaches a terminal or a report as a control sequence (issue 11,
point 5); JUnit output is valid XML and JSON output valid JSON, whatever the traces hold."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.errors import TraceNotFoundError
from tftrace.compare.divergence import diff
from tftrace.format.writer import TraceWriter
from tftrace.report.escape import safe_line, safe_text
from tftrace.report.check import render_check_text
from tftrace.report.text import render_text

#: Clear the screen, set the window title (OSC), NUL, a C1 CSI, bidi override and isolate, BEL, DEL.
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x00\x9b31m\u202eevil\u2066\x7f"
#: Every character a terminal or an XML parser must not receive raw (newline aside).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _hostile_trace(path: Path, value: float) -> Path:
    env = {"tensorflow_version": f"2.21{HOSTILE}", f"key{HOSTILE}": f"value{HOSTILE}",
           "replay": {"source": f"a.zarr{HOSTILE}", "random": True, "variables": False,
                      "random_ops_replayed": 1}}
    with TraceWriter.create(path, environment=env) as w:
        w.add_event("variable", f"dense/kernel{HOSTILE}", value=np.full((2, 2), value, np.float32),
                    attrs={"trainable": True, "call_site": f"model.py:3{HOSTILE}", "mode": "eager",
                           f"extra{HOSTILE}": [HOSTILE]})
        w.add_event("random_op", f"drop{HOSTILE}", value=np.full((3,), value, np.float32),
                    attrs={"op_type": f"RandomUniform{HOSTILE}", "seed": [42, 1], "seed_index": 0,
                           "call_site": f"net.py:9{HOSTILE}"})
        w.add_event("random_op", f"drop{HOSTILE}", value=np.full((3,), value, np.float32),
                    attrs={"op_type": f"RandomUniform{HOSTILE}", "seed": [42, 1], "seed_index": 1,
                           "call_site": f"net.py:9{HOSTILE}"})
        w.add_event("endpoint", f"logits{HOSTILE}", value=np.full((2,), value, np.float32),
                    attrs={"call_site": f"run.py:1{HOSTILE}"})
    return path


@pytest.fixture
def traces(tmp_path: Path) -> tuple[Path, Path]:
    return _hostile_trace(tmp_path / "a.zarr", 1.0), _hostile_trace(tmp_path / "b.zarr", 2.0)


def _run(args: list[str]) -> tuple[int, str, str]:
    # color=True: click would otherwise strip some escape sequences itself, hiding a leak
    result = CliRunner().invoke(cli, [str(a) for a in args], color=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def _assert_clean(text: str) -> None:
    leaks = sorted({hex(ord(c)) for c in RAW.findall(text)})
    assert not leaks, f"raw control characters {leaks} in output"


def test_show_escapes_environment_keys_values_and_names(traces: tuple[Path, Path]) -> None:
    a, _ = traces
    code, out, err = _run(["show", a])
    assert code == 0, err
    _assert_clean(out)
    assert f"tensorflow_version 2.21{safe_line(HOSTILE)}" in out
    assert f"key{safe_line(HOSTILE)}" in out and "\\x1b[2J\\x1b]0;owned\\x07\\x00\\x9b31m\\u202eevil\\u2066\\x7f" in out


def test_show_json_is_valid_json_with_the_strings_intact(traces: tuple[Path, Path]) -> None:
    a, _ = traces
    code, out, _ = _run(["show", "--json", a])
    assert code == 0
    _assert_clean(out)
    doc = json.loads(out)
    assert doc["environment"]["tensorflow_version"] == f"2.21{HOSTILE}"  # data stay data


def test_cat_escapes_attrs_and_name(traces: tuple[Path, Path]) -> None:
    a, _ = traces
    code, out, err = _run(["cat", a, f"drop{HOSTILE}", "--occurrence", "1"])
    assert code == 0, err
    _assert_clean(out)
    assert f"op_type: RandomUniform{safe_line(HOSTILE)}" in out
    assert f"call_site: net.py:9{safe_line(HOSTILE)}" in out


@pytest.mark.parametrize("fmt", ["text", "junit", "json"])
def test_diff_reports(traces: tuple[Path, Path], fmt: str) -> None:
    a, b = traces
    code, out, err = _run(["diff", a, b, "--all", "--format", fmt])
    assert code == 1, err
    _assert_clean(out)
    if fmt == "junit":
        root = ET.fromstring(out.encode())
        names = [case.get("name") for case in root.iter("testcase")]
        assert any(safe_line(HOSTILE) in (n or "") for n in names)
    elif fmt == "json":
        doc = json.loads(out)
        assert doc["first_divergence"]["call_site_a"] == f"model.py:3{HOSTILE}"
    else:
        assert f"call sites: A model.py:3{safe_line(HOSTILE)}" in out
        assert f"tensorflow 2.21{safe_line(HOSTILE)}" in out
        assert f"replayed from a.zarr{safe_line(HOSTILE)}" in out


def test_check_text(traces: tuple[Path, Path]) -> None:
    a, _ = traces
    code, out, _ = _run(["check", a])
    assert code == 1
    _assert_clean(out)
    assert f"RandomUniform{safe_line(HOSTILE)}" in out


def test_junit_is_valid_xml_for_nul_and_esc_in_names(tmp_path: Path) -> None:
    paths = []
    for label, value in (("a", 1.0), ("b", 2.0)):
        path = tmp_path / f"{label}.zarr"
        with TraceWriter.create(path) as w:
            for name in ("nul\x00name", "esc\x1bname", "bell\x07", "ok"):
                w.add_event("endpoint", name, value=np.float32(value))
        paths.append(path)
    code, out, _ = _run(["diff", *paths, "--format", "junit"])
    assert code == 1
    root = ET.fromstring(out.encode())  # raises on NUL or ESC, as any XML 1.0 parser must
    names = sorted(case.get("name") or "" for case in root.iter("testcase") if case.get("classname") == "tftrace.endpoint")
    assert names == ["bell\\x07 @ step 0", "esc\\x1bname @ step 0", "nul\\x00name @ step 0", "ok @ step 0"]


def test_colours_survive_and_only_they(traces: tuple[Path, Path]) -> None:
    a, b = traces
    result = diff(a, b)
    coloured = render_text(result, show_all=True, color=True)
    assert re.findall("\x1b\\[[0-9;]*m", coloured)  # the renderer's own colours are kept
    _assert_clean(re.sub("\x1b\\[(?:31|32|33|1|0)m", "", coloured))
    assert render_text(result, show_all=True) == re.sub("\x1b\\[(?:31|32|33|1|0)m", "", coloured)


def test_check_colours(traces: tuple[Path, Path]) -> None:
    from tftrace.lint import check

    coloured = render_check_text(check(traces[0]), color=True)
    assert coloured.startswith("tftrace check: \x1b[31m")
    _assert_clean(re.sub("\x1b\\[(?:31|32|0)m", "", coloured))


def test_error_lines_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / f"no{HOSTILE.replace(chr(0), '')}.zarr"  # (a command line never holds NUL)
    code, _, err = _run(["show", path])
    assert code == 2
    _assert_clean(err)
    assert err.startswith(f"Error: {safe_line(str(path))}: no such trace")
    with pytest.raises(TraceNotFoundError, match="never contains a NUL"):
        tftrace.open(tmp_path / "a\0b.zarr")


@pytest.mark.parametrize("text, expected", [
    ("plain ünïcode ☃ text", "plain ünïcode ☃ text"),
    ("a\x1b[31mb", "a\\x1b[31mb"),
    ("tab\there", "tab\\x09here"),
    ("two\nlines", "two\nlines"),
    ("\u202eabc\u2069", "\\u202eabc\\u2069"),
    ("\x85\x9f\x7f", "\\x85\\x9f\\x7f"),
    ("\ufeff\ufffe\uffff", "\\ufeff\\ufffe\\uffff"),
    ("\udc80", "\\udc80"),
], ids=["plain", "csi", "tab", "newline", "bidi", "c1-del", "bom-nonchars", "surrogate"])
def test_safe_text(text: str, expected: str) -> None:
    assert safe_text(text) == expected
    assert safe_line(text) == expected.replace("\n", "\\x0a")
