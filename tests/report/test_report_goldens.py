"""The reports of fixed trace pairs are byte for byte what they were before the wording
moved to report/ (goldens in goldens/, written by golden_reports.py)."""

from __future__ import annotations

import difflib

from tests.report import golden_reports


def test_reports_match_their_goldens(tmp_path, trace_builders) -> None:
    differing = golden_reports.compare_with_goldens(trace_builders, tmp_path)
    shown = []
    for name, text in list(differing.items())[:3]:
        golden = golden_reports.GOLDENS / name
        old = golden.read_text(encoding="utf-8").splitlines() if golden.exists() else ["(digest only)"]
        shown.extend(difflib.unified_diff(old, text.splitlines(), f"golden {name}", "now", lineterm="", n=1))
    assert not differing, f"{len(differing)} reports differ: {sorted(differing)}\n" + "\n".join(shown[:200])


def test_a_changed_report_is_caught(tmp_path, trace_builders, monkeypatch) -> None:
    # Negative control: one changed word in the JSON report must show up as a difference.
    original = golden_reports.render_json
    monkeypatch.setattr(golden_reports, "render_json",
                        lambda result: original(result).replace('"equal"', '"same"', 1))
    differing = golden_reports.compare_with_goldens(trace_builders, tmp_path)
    assert "scenario-identical.json" in differing and "sample-bn-pitfall.json" in differing
    assert not any(name.endswith(".txt") for name in differing)
