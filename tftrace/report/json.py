"""The JSON report of a diff: ``DiffResult.to_dict()``, schema in docs/report-schema.md."""

from __future__ import annotations

import json

from tftrace.compare.result import DiffResult
from tftrace.report.escape import json_safe


def render_json(result: DiffResult, *, show_all: bool = True) -> str:
    """The JSON document, ending with a newline.

    Non-finite floats appear as the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the
    document is strict JSON. ``show_all=False`` leaves out ``pairs`` that are
    ``equal`` (the summary still counts them).
    """
    document = result.to_dict()
    if not show_all:
        document["pairs"] = [p for p in document["pairs"] if p["status"] != "equal"]
    return json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n"
