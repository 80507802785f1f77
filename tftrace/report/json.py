"""The JSON report of a diff (``DiffResult.to_dict()``), schema in docs/report-schema.md."""

from __future__ import annotations

import json
from typing import Any

from tftrace.compare.result import REPORT_VERSION, DiffResult, PairResult
from tftrace.report.diagnosis import diagnosis_document
from tftrace.report.escape import json_safe
from tftrace.report.words import note_sentence, pair_message


def pair_document(pair: PairResult) -> dict[str, Any]:
    """One pair of the report (``pairs[]`` and ``first_divergence``)."""
    return {
        "kind": pair.kind, "name": pair.name, "name_b": pair.name_b, "status": pair.status,
        "problem": pair.problem, "message": pair_message(pair), "step": pair.step,
        "occurrence": pair.occurrence, "seq_a": pair.seq_a, "seq_b": pair.seq_b,
        "random_index_a": pair.random_index_a, "random_index_b": pair.random_index_b,
        "shape_a": _shape(pair.shape_a), "shape_b": _shape(pair.shape_b),
        "dtype_a": pair.dtype_a, "dtype_b": pair.dtype_b,
        "op_type_a": pair.op_type_a, "op_type_b": pair.op_type_b,
        "compared_by": pair.compared_by,
        "tolerance": pair.tolerance.to_dict() if pair.tolerance else None,
        "values": pair.values.to_dict() if pair.values else None,
        "call_site_a": pair.call_site_a, "call_site_b": pair.call_site_b,
        "layer": pair.layer,
        "attribute_differences": [d.to_dict() for d in pair.attribute_differences],
        "inputs": [i.to_dict() for i in pair.inputs],
        "ops_only_a": list(pair.ops_only_a), "ops_only_b": list(pair.ops_only_b),
        "forward_compared": pair.forward_compared,
        "diagnosis": [diagnosis_document(d) for d in pair.diagnosis],
        **_state(pair),
    }


def _state(pair: PairResult) -> dict[str, Any]:
    """Optimizer state's keys, only on its pairs (kind ``optimizer_state``)."""
    if pair.state_a is None and pair.state_b is None:
        return {}
    return {"state_a": pair.state_a.to_dict() if pair.state_a else None,
            "state_b": pair.state_b.to_dict() if pair.state_b else None,
            "conversion": pair.conversion}


def _shape(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)


def _first_document(first: PairResult | None) -> dict[str, Any] | None:
    """The first divergence: its pair, and its diagnosis (``{code, message, evidence}``)."""
    if first is None:
        return None
    return pair_document(first)


def diff_document(result: DiffResult) -> dict[str, Any]:
    """The whole report as a dict (what the HTML report reads too)."""
    document = {
        "report_version": REPORT_VERSION,
        "equivalent": result.equivalent,
        "verdict": result.verdict,
        "complete": result.complete,
        "allow_incomplete": result.allow_incomplete,
        "compared": result.compared,
        "a": result.a.to_dict(), "b": result.b.to_dict(),
        "tolerance": result.tolerances.to_dict(),
        "kinds": list(result.kinds),
        "rename": [r.to_dict() for r in result.rename],
        "suggested_renames": [r.to_dict() for r in result.suggested_renames],
        "first_divergence": _first_document(result.first_divergence),
        "diagnosis": [diagnosis_document(d) for d in result.diagnosis],
        "broken_stream": result.broken_stream,
        "inputs_compared": result.inputs_compared,
        "random_gaps": [g.to_dict() for g in result.random_gaps],
        "stopped_early": result.stopped_early,
        "notes": [note_sentence(note) for note in result.note_facts],
        "ignore": list(result.ignore),
        "only_names": list(result.only_names),
        "near_miss": result.near_miss.to_dict() if result.near_miss else None,
        "summary": [s.to_dict() for s in result.summary],
        "pairs": [pair_document(p) for p in result.pairs],
    }
    if result.counts is not None:  # pairs lists the non-equal pairs only, up to a cap
        document["pairs_complete"] = False
        document["pairs_not_listed"] = result.pairs_not_listed
        document["pairs_cap"] = result.counts.cap
    return document


def render_json(result: DiffResult, *, show_all: bool = True) -> str:
    """The JSON document, ending with a newline.

    Non-finite floats appear as the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the
    document is strict JSON. ``show_all=False`` leaves out ``pairs`` that are
    ``equal`` (the summary still counts them).
    """
    document = diff_document(result)
    if not show_all:
        document["pairs"] = [p for p in document["pairs"] if p["status"] != "equal"]
    return json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n"
